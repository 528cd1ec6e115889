//! Metric data points from the fleet's services.
//!
//! Each row is one data point of one series: `metric_type` is `gauge`, `sum` or `histogram`
//! (for histograms, `value` is one recorded measurement), with its OpenTelemetry unit. Values
//! follow a daily load curve (quiet at 04:00 UTC, busiest at 16:00 UTC); cumulative sums
//! (`system.network.io`, `process.cpu.time`) grow linearly from midnight UTC, as if every
//! process restarted then, so they never decrease within a day.

use std::f64::consts::TAU;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array};
use rand::Rng;
use serde_json::{Value, json};

use super::fleet::{Fleet, Instance, Service};
use super::random::{log_normal, pick};
use super::rows::{opt_strings, sort_by_time, strings};
use super::spec::Window;
use crate::checksum::fnv_str;

/// One metric the fleet reports.
#[derive(Debug)]
pub struct Metric {
    /// Metric name.
    pub name: &'static str,
    /// `gauge`, `sum` or `histogram`.
    pub kind: &'static str,
    /// Unit in UCUM notation.
    pub unit: &'static str,
    /// What it measures, as its instrument describes it.
    pub description: &'static str,
    applies: fn(&Service) -> bool,
}

impl Metric {
    /// Whether `service` reports this metric.
    pub fn applies_to(&self, service: &Service) -> bool {
        (self.applies)(service)
    }
}

const fn metric(
    name: &'static str,
    kind: &'static str,
    unit: &'static str,
    description: &'static str,
    applies: fn(&Service) -> bool,
) -> Metric {
    Metric { name, kind, unit, description, applies }
}

/// Every metric; a service reports those that apply to it.
pub static METRICS: [Metric; 10] = [
    metric("http.server.duration", "histogram", "ms", "Duration of inbound HTTP requests.", |_| {
        true
    }),
    metric(
        "http.server.active_requests",
        "sum",
        "{request}",
        "Number of active HTTP server requests.",
        |_| true,
    ),
    metric("http.client.duration", "histogram", "ms", "Duration of outbound HTTP requests.", |s| {
        !s.calls.is_empty()
    }),
    metric(
        "db.client.connections.usage",
        "sum",
        "{connection}",
        "The number of connections that are currently in the state described by `state`.",
        |s| s.database.is_some(),
    ),
    metric(
        "system.cpu.utilization",
        "gauge",
        "1",
        "Share of CPU time the host spent in each state, 0 to 1.",
        |_| true,
    ),
    metric("system.memory.usage", "sum", "By", "Reports memory in use by state.", |_| true),
    metric("system.network.io", "sum", "By", "Bytes transmitted and received.", |_| true),
    metric(
        "process.runtime.memory",
        "gauge",
        "By",
        "Memory used by the language runtime, by memory type.",
        |_| true,
    ),
    metric("process.cpu.time", "sum", "s", "Total CPU seconds broken down by state.", |_| true),
    metric(
        "messaging.kafka.consumer.lag",
        "gauge",
        "{message}",
        "Messages the consumer group is behind the latest offset of the partition.",
        |s| !s.consumes.is_empty(),
    ),
];

struct Point<'f> {
    ts: i64,
    metric: &'static Metric,
    value: f64,
    service: &'static str,
    attributes: String,
    resource: &'f str,
}

/// The columns of one metrics file with `rows` data points timed inside `window`.
pub fn generate(rng: &mut impl Rng, fleet: &Fleet, window: Window, rows: usize) -> Vec<ArrayRef> {
    let mut points: Vec<Point<'_>> = (0..rows).map(|_| point(rng, fleet, window)).collect();
    sort_by_time(&mut points, |p| p.ts);
    let rows = &points;
    vec![
        super::rows::timestamps(rows.iter().map(|p| p.ts).collect()),
        strings(rows, |p| p.metric.name),
        strings(rows, |p| p.metric.kind),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|p| p.value))),
        opt_strings(rows, |p| Some(p.metric.unit)),
        strings(rows, |p| p.service),
        opt_strings(rows, |p| Some(&p.attributes)),
        opt_strings(rows, |p| Some(p.resource)),
    ]
}

fn point<'f>(rng: &mut impl Rng, fleet: &'f Fleet, window: Window) -> Point<'f> {
    let ts = window.sample(rng);
    let inst = fleet.any(rng);
    let applicable: Vec<&'static Metric> =
        METRICS.iter().filter(|m| (m.applies)(inst.service)).collect();
    let metric = *pick(rng, &applicable);
    let (value, attributes) = value(rng, inst, metric.name, ts);
    Point {
        ts,
        metric,
        value,
        service: inst.service.name,
        attributes: attributes.to_string(),
        resource: &inst.resource,
    }
}

/// Relative load at `ts_us`, between 0.1 (04:00 UTC) and 0.9 (16:00 UTC).
pub fn daily_load(ts_us: i64) -> f64 {
    let seconds_of_day = (ts_us / 1_000_000).rem_euclid(86_400) as f64;
    0.5 - 0.4 * (TAU * (seconds_of_day - 4.0 * 3_600.0) / 86_400.0).cos()
}

/// Seconds since midnight UTC, the start of every cumulative sum.
pub fn seconds_since_midnight(ts_us: i64) -> f64 {
    ts_us.rem_euclid(86_400_000_000) as f64 / 1e6
}

/// A stable per-service factor in [0.5, 1.5), so services differ but stay consistent.
pub fn service_factor(service: &Service) -> f64 {
    0.5 + (fnv_str(service.name) % 1_000) as f64 / 1_000.0
}

/// One data point of the gauge or sum `name` reported by `inst` at `ts`, or one measurement of
/// the histogram `name`: the value and the point's attributes.
pub fn value(rng: &mut impl Rng, inst: &Instance, name: &str, ts: i64) -> (f64, Value) {
    let s = inst.service;
    let load = daily_load(ts);
    let factor = service_factor(s);
    match name {
        "http.server.duration" => {
            let route = pick(rng, s.routes);
            let ms = log_normal(rng, route.median_ms * (0.8 + 0.4 * load), 0.6);
            let code = if rng.random_bool(0.02) { 500 } else { 200 };
            let attributes = json!({
                "http.method": route.method,
                "http.route": route.route,
                "http.status_code": code,
            });
            (round3(ms), attributes)
        }
        "http.server.active_requests" => {
            let n = (log_normal(rng, 12.0 * load * factor, 0.5)).round();
            (n, json!({ "http.method": *pick(rng, &["GET", "POST"]) }))
        }
        "http.client.duration" => {
            let peer = *pick(rng, s.calls);
            let route = pick(rng, super::fleet::service(peer).routes);
            let ms = log_normal(rng, route.median_ms * 1.1 + 0.5, 0.6);
            let attributes = json!({
                "http.method": route.method,
                "net.peer.name": peer,
                "http.status_code": 200,
            });
            (round3(ms), attributes)
        }
        "db.client.connections.usage" => {
            let used = rng.random_bool(0.5);
            let max = 20.0;
            let in_use = (max * load * rng.random_range(0.6..1.0)).round();
            let v = if used { in_use } else { max - in_use };
            let pool = s.database.as_ref().map_or("default", |d| d.name);
            (v, json!({ "pool.name": pool, "state": if used { "used" } else { "idle" } }))
        }
        "system.cpu.utilization" => {
            let v = (0.05 + 0.7 * load * factor + rng.random_range(-0.05..0.05)).clamp(0.0, 1.0);
            (round3(v), json!({ "cpu": rng.random_range(0..4), "state": "user" }))
        }
        "system.memory.usage" => {
            let v = s.memory_mib * 1_048_576.0 * rng.random_range(0.75..0.95);
            (v.round(), json!({ "state": "used" }))
        }
        "system.network.io" => {
            let transmit = rng.random_bool(0.5);
            let rate = 250_000.0 * factor * if transmit { 1.3 } else { 1.0 };
            let direction = if transmit { "transmit" } else { "receive" };
            (
                (rate * seconds_since_midnight(ts)).round(),
                json!({ "device": "eth0", "direction": direction }),
            )
        }
        "process.runtime.memory" => {
            let heap = rng.random_bool(0.7);
            let share = if heap { 0.6 } else { 0.2 };
            let v = s.memory_mib * 1_048_576.0 * share * rng.random_range(0.7..1.0);
            let kind = if heap { "heap" } else { "non_heap" };
            (v.round(), json!({ "runtime": s.language, "type": kind }))
        }
        "process.cpu.time" => {
            let cores = 0.2 + factor;
            (round3(cores * seconds_since_midnight(ts)), json!({ "state": "user" }))
        }
        "messaging.kafka.consumer.lag" => {
            let topic = *pick(rng, s.consumes);
            let lag = log_normal(rng, 30.0 * load, 1.0).round();
            let attributes = json!({
                "messaging.destination.name": topic,
                "messaging.kafka.consumer.group": s.name,
                "messaging.kafka.partition": rng.random_range(0..12),
            });
            (lag, attributes)
        }
        other => unreachable!("metric `{other}` has no value model"),
    }
}

/// `v` rounded to three decimals.
pub fn round3(v: f64) -> f64 {
    (v * 1_000.0).round() / 1_000.0
}
