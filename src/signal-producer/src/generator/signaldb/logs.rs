//! `logs` (`physical-v1`): the classic generator's log records with SignalDB's columns.
//!
//! The scope is the logger (`log.logger`, e.g. `checkout.PlaceOrder`) at the service's
//! version; `observed_timestamp` is when the collector saw the record, a few milliseconds
//! after `timestamp`; `trace_flags` is 1 (sampled) on records logged inside a trace.

use rand::Rng;

use super::columns::{Columns, MapColumn};
use super::scope::RESOURCE_SCHEMA_URL;
use crate::generator::fleet::Fleet;
use crate::generator::logs;
use crate::generator::random::log_normal;
use crate::generator::spec::Window;

/// The columns of one logs file with `rows` records timed inside `window`.
pub fn generate(rng: &mut impl Rng, fleet: &Fleet, window: Window, rows: usize) -> Columns {
    let records = logs::records(rng, fleet, window, rows);
    let observed: Vec<i64> = records
        .iter()
        .map(|r| r.ts + (log_normal(rng, 2_000.0, 1.0) as i64).clamp(50, 5_000_000))
        .collect();
    let mut c = Columns::new(records.len());
    c.time(&records.iter().map(|r| r.ts).collect::<Vec<_>>());
    c.timestamps("observed_timestamp", observed.into_iter().map(Some));
    c.opt_strings("trace_id", records.iter().map(|r| r.trace.as_ref().map(|t| t.0.as_str())));
    c.opt_strings("span_id", records.iter().map(|r| r.trace.as_ref().map(|t| t.1.as_str())));
    c.ints("trace_flags", records.iter().map(|r| r.trace.as_ref().map(|_| 1)));
    c.opt_strings("severity_text", records.iter().map(|r| Some(r.severity.text)));
    c.ints("severity_number", records.iter().map(|r| Some(r.severity.number)));
    c.strings("service_name", records.iter().map(|r| r.instance.service.name));
    c.opt_strings("body", records.iter().map(|r| Some(r.body.as_str())));
    c.opt_strings("resource_schema_url", records.iter().map(|_| Some(RESOURCE_SCHEMA_URL)));
    let mut resources = MapColumn::default();
    let mut scope_attributes = MapColumn::default();
    let mut attributes = MapColumn::default();
    for r in &records {
        resources.push(r.instance.attributes.iter().map(|(k, v)| (*k, v)));
        scope_attributes.push::<&str, &str>([]);
        attributes.push_json(&r.attributes);
    }
    c.map("resource_attributes", resources);
    c.opt_strings("scope_schema_url", records.iter().map(|_| None::<&str>));
    let logger = |r: &logs::Record<'_>| r.attributes["log.logger"].as_str().map(str::to_string);
    c.opt_strings("scope_name", records.iter().map(logger));
    c.opt_strings("scope_version", records.iter().map(|r| Some(r.instance.service.version)));
    c.map("scope_attributes", scope_attributes);
    c.map("log_attributes", attributes);
    c
}
