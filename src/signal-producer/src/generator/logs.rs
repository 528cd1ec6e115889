//! Log records from the fleet's services.
//!
//! Severities follow the OpenTelemetry log data model: the number is the first of its range
//! (TRACE=1, DEBUG=5, INFO=9, WARN=13, ERROR=17, FATAL=21) and the text is its short name.
//! Most records are INFO; bodies come from per-severity templates filled with plausible ids,
//! durations and reasons. About 60% of records carry the trace and span id of the request they
//! were logged in; the rest (background work) have neither.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, StringArray};
use rand::Rng;
use serde_json::json;

use super::fleet::{Fleet, Instance};
use super::random::{log_normal, pick, span_id, trace_id, weighted};
use super::rows::{opt_strings, sort_by_time, strings};
use super::spec::Window;

/// An OpenTelemetry severity: number and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Severity {
    /// `severity_number`, 1–24.
    pub number: i32,
    /// `severity_text`.
    pub text: &'static str,
}

/// The severities used, with their relative frequency.
pub const SEVERITIES: [(Severity, u32); 6] = [
    (Severity { number: 1, text: "TRACE" }, 10),
    (Severity { number: 5, text: "DEBUG" }, 140),
    (Severity { number: 9, text: "INFO" }, 640),
    (Severity { number: 13, text: "WARN" }, 130),
    (Severity { number: 17, text: "ERROR" }, 78),
    (Severity { number: 21, text: "FATAL" }, 2),
];

const REASONS: [&str; 6] = [
    "connection refused",
    "context deadline exceeded",
    "insufficient funds",
    "card expired",
    "optimistic lock failed, retries exhausted",
    "upstream returned 503 Service Unavailable",
];
const CURRENCIES: [&str; 4] = ["USD", "EUR", "GBP", "JPY"];

/// One generated log record.
#[derive(Debug)]
pub struct Record<'f> {
    /// Time of the event, microseconds since the epoch.
    pub ts: i64,
    /// Severity number and text.
    pub severity: Severity,
    /// The message.
    pub body: String,
    /// The trace id and span id of the request it was logged in, if any.
    pub trace: Option<(String, String)>,
    /// Log attributes, a JSON object; `log.logger` names the logger.
    pub attributes: serde_json::Value,
    /// The replica that logged it.
    pub instance: &'f Instance,
}

/// The columns of one logs file with `rows` records timed inside `window`.
pub fn generate(rng: &mut impl Rng, fleet: &Fleet, window: Window, rows: usize) -> Vec<ArrayRef> {
    let records = records(rng, fleet, window, rows);
    let rows = &records;
    vec![
        super::rows::timestamps(rows.iter().map(|r| r.ts).collect()),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.severity.number))),
        strings(rows, |r| r.severity.text),
        strings(rows, |r| &r.body),
        strings(rows, |r| r.instance.service.name),
        opt_strings(rows, |r| r.trace.as_ref().map(|t| t.0.as_str())),
        opt_strings(rows, |r| r.trace.as_ref().map(|t| t.1.as_str())),
        Arc::new(rows.iter().map(|r| Some(r.attributes.to_string())).collect::<StringArray>()),
        opt_strings(rows, |r| Some(&r.instance.resource)),
    ]
}

/// `rows` log records timed inside `window`, sorted by time.
pub fn records<'f>(
    rng: &mut impl Rng,
    fleet: &'f Fleet,
    window: Window,
    rows: usize,
) -> Vec<Record<'f>> {
    let mut records: Vec<Record<'_>> = (0..rows).map(|_| record(rng, fleet, window)).collect();
    sort_by_time(&mut records, |r| r.ts);
    records
}

fn record<'f>(rng: &mut impl Rng, fleet: &'f Fleet, window: Window) -> Record<'f> {
    let ts = window.sample(rng);
    let inst = fleet.any(rng);
    let severity = *weighted(rng, &SEVERITIES);
    let (body, function) = body(rng, inst, severity);
    let trace = rng.random_bool(0.6).then(|| (trace_id(rng), span_id(rng)));
    let mut attributes = json!({
        "log.logger": format!("{}.{}", inst.service.name, function),
        "code.function": function,
        "thread.name": format!("worker-{}", rng.random_range(0..16)),
    });
    if severity.number >= 17 {
        attributes["exception.type"] = json!(*pick(
            rng,
            &["TimeoutError", "ConnectionError", "ValidationError", "IllegalStateException"]
        ));
    }
    Record { ts, severity, body, trace, attributes, instance: inst }
}

/// A log body for `severity` and the function that logged it. Order lines come only from
/// services that handle orders; peers are services the logger really calls.
fn body(rng: &mut impl Rng, inst: &Instance, severity: Severity) -> (String, &'static str) {
    let s = inst.service;
    let function = *pick(rng, s.functions);
    let id = rng.random_range(100_000..1_000_000);
    let ms = rng.random_range(1..2_000);
    let peer = match (s.calls, &s.database) {
        ([], Some(db)) => db.system,
        ([], None) => "kafka",
        (calls, _) => *pick(rng, calls),
    };
    let orders = s.publishes.contains(&"orders") || s.consumes.contains(&"orders");
    let body = match (severity.text, rng.random_range(0..3)) {
        ("TRACE", _) => format!("entering {function} request_id={id:x}"),
        ("DEBUG", 0) => format!("cache hit for key {}:{id}", s.name),
        ("DEBUG", 1) => {
            format!("resolved {} feature flags for user u-{id}", rng.random_range(3..40))
        }
        ("DEBUG", _) => format!("query plan selected index scan, {ms} rows examined"),
        ("INFO", 1) if orders => format!(
            "order o-{id} placed: {} items, total {}.{:02} {}",
            rng.random_range(1..8),
            rng.random_range(5..900),
            rng.random_range(0..100),
            pick(rng, &CURRENCIES)
        ),
        ("INFO", 2) if s.entry => {
            format!("user u-{id} signed in from 198.51.100.{}", rng.random_range(1..255))
        }
        ("INFO", _) => {
            let route = pick(rng, s.routes);
            let path = route.route.replace("{id}", &id.to_string());
            let status = if route.method == "POST" { 201 } else { 200 };
            let took = log_normal(rng, route.median_ms, 0.6);
            format!("{} {path} {status} {took:.1}ms", route.method)
        }
        ("WARN", 0) => format!("slow request: {function} took {}ms (threshold 500ms)", ms + 500),
        ("WARN", 1) => format!("retrying call to {peer} (attempt {}/3)", rng.random_range(1..4)),
        ("WARN", _) => format!("connection pool at {}% capacity", rng.random_range(80..100)),
        ("ERROR", 0) if orders => {
            format!("failed to process order o-{id}: {}", pick(rng, &REASONS))
        }
        ("ERROR", 1) => format!("request to {peer} failed: {}", pick(rng, &REASONS)),
        ("ERROR", _) => format!("unhandled exception in {function}: {}", pick(rng, &REASONS)),
        (_, 0) => {
            format!("out of memory: failed to allocate {} bytes", rng.random_range(1..64) << 20)
        }
        (_, _) => format!("unrecoverable error, shutting down: {}", pick(rng, &REASONS)),
    };
    (body, function)
}
