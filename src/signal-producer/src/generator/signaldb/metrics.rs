//! `metrics_gauge` and `metrics_sum`: the classic generator's gauges and sums, one table per
//! point type, and the columns every metrics table shares ([`Head`]).
//!
//! Sums are cumulative (aggregation temporality 2) from midnight UTC, the generator's process
//! start; `system.network.io` and `process.cpu.time` are monotonic counters, the others
//! up-down counters. Gauges have no start time.

use rand::Rng;
use serde_json::Value;

use super::columns::{Columns, MapColumn};
use super::scope::{Instrumentation, RESOURCE_SCHEMA_URL, scope};
use crate::generator::fleet::{Fleet, Instance};
use crate::generator::metrics::{self, METRICS, Metric};
use crate::generator::random::pick;
use crate::generator::rows::sort_by_time;
use crate::generator::spec::Window;

/// `AGGREGATION_TEMPORALITY_DELTA`.
pub const DELTA: i32 = 1;
/// `AGGREGATION_TEMPORALITY_CUMULATIVE`.
pub const CUMULATIVE: i32 = 2;

/// Microseconds in one day.
const US_PER_DAY: i64 = 86_400_000_000;

/// The columns of one data point that every metrics table has.
pub struct Head<'f> {
    /// Time of the point, microseconds since the epoch.
    pub ts: i64,
    /// Start of the point's aggregation interval, if it has one.
    pub start: Option<i64>,
    /// The replica that reported it.
    pub instance: &'f Instance,
    /// Metric name.
    pub name: &'static str,
    /// Metric description.
    pub description: &'static str,
    /// Unit in UCUM notation.
    pub unit: &'static str,
    /// The series' attributes, a JSON object.
    pub attributes: Value,
    /// Exemplars as a JSON array, if any.
    pub exemplars: Option<String>,
}

/// The instrumentation that reports metric `name`.
fn instrumentation(name: &str) -> Instrumentation {
    match name.split(['.', '_']).next() {
        Some("http") => Instrumentation::Http,
        Some("db") => Instrumentation::Db,
        Some("messaging") => Instrumentation::Messaging,
        Some("process" | "go" | "jvm") => Instrumentation::Runtime,
        Some("system") if name.contains("memory") => Instrumentation::Host("memory"),
        Some("system") if name.contains("network") => Instrumentation::Host("network"),
        Some("system") => Instrumentation::Host("cpu"),
        _ => Instrumentation::App,
    }
}

/// Midnight UTC before `ts`, where every cumulative series of the generator starts.
pub fn midnight(ts: i64) -> i64 {
    ts - ts.rem_euclid(US_PER_DAY)
}

/// Adds the shared columns of `heads` (one per row, in row order) to `c`.
pub fn head_columns(c: &mut Columns, heads: &[&Head<'_>]) {
    c.time(&heads.iter().map(|h| h.ts).collect::<Vec<_>>());
    c.timestamps("start_timestamp", heads.iter().map(|h| h.start));
    c.strings("service_name", heads.iter().map(|h| h.instance.service.name));
    c.strings("metric_name", heads.iter().map(|h| h.name));
    c.opt_strings("metric_description", heads.iter().map(|h| Some(h.description)));
    c.opt_strings("metric_unit", heads.iter().map(|h| Some(h.unit)));
    c.ints("flags", heads.iter().map(|_| Some(0)));
    c.opt_strings("resource_schema_url", heads.iter().map(|_| Some(RESOURCE_SCHEMA_URL)));
    let scopes: Vec<_> =
        heads.iter().map(|h| scope(h.instance.service, instrumentation(h.name))).collect();
    c.opt_strings("scope_name", scopes.iter().map(|(name, _)| Some(*name)));
    c.opt_strings("scope_version", scopes.iter().map(|(_, version)| Some(*version)));
    c.opt_strings("scope_schema_url", heads.iter().map(|_| None::<&str>));
    c.ints("scope_dropped_attr_count", heads.iter().map(|_| Some(0)));
    let mut resources = MapColumn::default();
    let mut scope_attributes = MapColumn::default();
    let mut attributes = MapColumn::default();
    for h in heads {
        resources.push(h.instance.attributes.iter().map(|(k, v)| (*k, v)));
        scope_attributes.push::<&str, &str>([]);
        attributes.push_json(&h.attributes);
    }
    c.map("resource_attributes", resources);
    c.map("scope_attributes", scope_attributes);
    c.map("attributes", attributes);
    c.opt_strings("exemplars", heads.iter().map(|h| h.exemplars.as_deref()));
}

/// `rows` points of the classic metrics of type `kind` (`gauge` or `sum`), sorted by time.
fn points<'f>(
    rng: &mut impl Rng,
    fleet: &'f Fleet,
    window: Window,
    rows: usize,
    kind: &str,
) -> Vec<(Head<'f>, f64)> {
    let mut points: Vec<(Head<'f>, f64)> = (0..rows)
        .map(|_| {
            let ts = window.sample(rng);
            let inst = fleet.any(rng);
            let applicable: Vec<&'static Metric> =
                METRICS.iter().filter(|m| m.kind == kind && m.applies_to(inst.service)).collect();
            let metric = *pick(rng, &applicable);
            let (value, attributes) = metrics::value(rng, inst, metric.name, ts);
            let start = (kind == "sum").then(|| midnight(ts));
            let head = Head {
                ts,
                start,
                instance: inst,
                name: metric.name,
                description: metric.description,
                unit: metric.unit,
                attributes,
                exemplars: None,
            };
            (head, value)
        })
        .collect();
    sort_by_time(&mut points, |(h, _)| h.ts);
    points
}

/// The columns of one `metrics_gauge` file.
pub fn gauge(rng: &mut impl Rng, fleet: &Fleet, window: Window, rows: usize) -> Columns {
    let points = points(rng, fleet, window, rows, "gauge");
    let mut c = Columns::new(points.len());
    head_columns(&mut c, &points.iter().map(|(h, _)| h).collect::<Vec<_>>());
    c.doubles("value", points.iter().map(|(_, v)| Some(*v)));
    c
}

/// The columns of one `metrics_sum` file.
pub fn sum(rng: &mut impl Rng, fleet: &Fleet, window: Window, rows: usize) -> Columns {
    let points = points(rng, fleet, window, rows, "sum");
    let mut c = Columns::new(points.len());
    head_columns(&mut c, &points.iter().map(|(h, _)| h).collect::<Vec<_>>());
    c.doubles("value", points.iter().map(|(_, v)| Some(*v)));
    c.ints("aggregation_temporality", points.iter().map(|_| Some(CUMULATIVE)));
    let monotonic = |name: &str| matches!(name, "system.network.io" | "process.cpu.time");
    c.bools("is_monotonic", points.iter().map(|(h, _)| monotonic(h.name)));
    c
}
