//! `metrics_histogram`, `metrics_exponential_histogram` and `metrics_summary`: distributions
//! of request and operation latencies.
//!
//! A histogram point aggregates the latencies one replica measured over the minute before its
//! timestamp (delta temporality): its count follows the daily load, each measurement is
//! log-normal around the route's median, and the buckets, sum, min and max are computed from
//! those measurements. Explicit-bucket histograms use OpenTelemetry's default bounds;
//! exponential histograms pick the finest scale (at most 8) that fits the measurements in 160
//! buckets. Summaries are cumulative from midnight UTC, Prometheus-style, with their quantiles
//! as a JSON array. JSON columns: `bucket_counts` `[0,3,…]`, `explicit_bounds` `[0.0,5.0,…]`,
//! `quantile_values` `[{"quantile":0.5,"value":0.012},…]`, `exemplars`
//! `[{"value":…,"time_unix_nano":…,"trace_id":…,"span_id":…}]`.

use rand::Rng;
use serde_json::{Value, json};

use super::columns::Columns;
use super::metrics::{DELTA, Head, head_columns, midnight};
use crate::generator::fleet::{self, Fleet, Instance, Service};
use crate::generator::metrics::{daily_load, round3, seconds_since_midnight, service_factor};
use crate::generator::random::{log_normal, pick, span_id, trace_id};
use crate::generator::rows::sort_by_time;
use crate::generator::spec::Window;

/// OpenTelemetry's default explicit bucket bounds (milliseconds).
pub const BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// Largest exponential-histogram scale used.
const MAX_SCALE: i32 = 8;
/// Most buckets of an exponential histogram (OpenTelemetry SDKs' default).
const MAX_BUCKETS: i64 = 160;
/// Microseconds in a histogram point's aggregation interval.
const INTERVAL_US: i64 = 60_000_000;

/// A distribution metric: name, unit, description and which services report it.
struct Distribution {
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    applies: fn(&Service) -> bool,
}

const EXPLICIT: [Distribution; 2] = [
    Distribution {
        name: "http.server.duration",
        unit: "ms",
        description: "Duration of inbound HTTP requests.",
        applies: |_| true,
    },
    Distribution {
        name: "http.client.duration",
        unit: "ms",
        description: "Duration of outbound HTTP requests.",
        applies: |s| !s.calls.is_empty(),
    },
];

const EXPONENTIAL: [Distribution; 2] = [
    Distribution {
        name: "http.server.request.duration",
        unit: "s",
        description: "Duration of HTTP server requests.",
        applies: |_| true,
    },
    Distribution {
        name: "db.client.operation.duration",
        unit: "s",
        description: "Duration of database client operations.",
        applies: |s| s.database.is_some(),
    },
];

const SUMMARIES: [Distribution; 2] = [
    Distribution {
        name: "http_request_duration_seconds",
        unit: "s",
        description: "Latency of the HTTP requests the service handled.",
        applies: |_| true,
    },
    Distribution {
        name: "go_gc_duration_seconds",
        unit: "s",
        description: "A summary of the pause duration of garbage collection cycles.",
        applies: |s| s.language == "go",
    },
];

/// One aggregated point: its shared columns and the latencies it aggregates.
struct Point<'f> {
    head: Head<'f>,
    samples: Vec<f64>,
}

/// What a distribution measures on `inst`: the median latency in milliseconds and the
/// series' attributes.
fn series(rng: &mut impl Rng, inst: &Instance, name: &str) -> (f64, Value) {
    let s = inst.service;
    match name {
        "http.client.duration" => {
            let peer = *pick(rng, s.calls);
            let route = pick(rng, fleet::service(peer).routes);
            let attributes = json!({"http.request.method": route.method,
                                     "server.address": peer, "http.response.status_code": 200});
            (route.median_ms * 1.1 + 0.5, attributes)
        }
        "db.client.operation.duration" => {
            let db = s.database.as_ref().expect("only services with a database report it");
            let op = *pick(rng, &["SELECT", "INSERT", "UPDATE"]);
            let median = if db.system == "redis" { 0.4 } else { 3.0 };
            (
                median,
                json!({"db.system": db.system, "db.namespace": db.name, "db.operation.name": op}),
            )
        }
        "go_gc_duration_seconds" => (0.3, json!({})),
        "http_request_duration_seconds" => {
            let route = pick(rng, s.routes);
            (route.median_ms, json!({"method": route.method, "handler": route.route}))
        }
        _ => {
            let route = pick(rng, s.routes);
            let code = if rng.random_bool(0.02) { 500 } else { 200 };
            let attributes = json!({"http.request.method": route.method,
                                    "http.route": route.route, "http.response.status_code": code});
            (route.median_ms, attributes)
        }
    }
}

/// `rows` points of `metrics` timed inside `window`, sorted by time; each aggregates the
/// minute before it, in milliseconds times `scale`.
fn points<'f>(
    rng: &mut impl Rng,
    fleet: &'f Fleet,
    window: Window,
    rows: usize,
    metrics: &'static [Distribution],
    scale: f64,
) -> Vec<Point<'f>> {
    let mut points: Vec<Point<'f>> = (0..rows)
        .map(|_| {
            let ts = window.sample(rng);
            let inst = fleet.any(rng);
            let applicable: Vec<&Distribution> =
                metrics.iter().filter(|m| (m.applies)(inst.service)).collect();
            let metric = *pick(rng, &applicable);
            let (median_ms, attributes) = series(rng, inst, metric.name);
            let load = daily_load(ts);
            let mean_count = 40.0 * load * service_factor(inst.service);
            let count = (log_normal(rng, mean_count, 0.5).round() as usize).clamp(1, 400);
            let median = median_ms * (0.8 + 0.4 * load);
            let samples = (0..count).map(|_| log_normal(rng, median, 0.6) * scale).collect();
            let exemplars = rng.random_bool(0.3).then(|| {
                json!([{"value": round3(median * scale), "time_unix_nano": (ts - 1_000_000) * 1_000,
                        "trace_id": trace_id(rng), "span_id": span_id(rng)}])
                .to_string()
            });
            let head = Head {
                ts,
                start: Some(ts - INTERVAL_US),
                instance: inst,
                name: metric.name,
                description: metric.description,
                unit: metric.unit,
                attributes,
                exemplars,
            };
            Point { head, samples }
        })
        .collect();
    sort_by_time(&mut points, |p| p.head.ts);
    points
}

/// Adds `count`, `sum`, `min` and `max` of every point's samples.
fn stats(c: &mut Columns, points: &[Point<'_>]) {
    c.longs("count", points.iter().map(|p| Some(p.samples.len() as i64)));
    c.doubles("sum", points.iter().map(|p| Some(round3(p.samples.iter().sum()))));
    let fold = |f: fn(f64, f64) -> f64, p: &Point<'_>| p.samples.iter().copied().reduce(f);
    c.doubles("min", points.iter().map(|p| fold(f64::min, p)));
    c.doubles("max", points.iter().map(|p| fold(f64::max, p)));
}

fn heads<'a, 'f>(points: &'a [Point<'f>]) -> Vec<&'a Head<'f>> {
    points.iter().map(|p| &p.head).collect()
}

/// The columns of one `metrics_histogram` file.
pub fn histogram(rng: &mut impl Rng, fleet: &Fleet, window: Window, rows: usize) -> Columns {
    let points = points(rng, fleet, window, rows, &EXPLICIT, 1.0);
    let mut c = Columns::new(points.len());
    head_columns(&mut c, &heads(&points));
    stats(&mut c, &points);
    let buckets = points.iter().map(|p| {
        let mut counts = [0u64; BOUNDS.len() + 1];
        for v in &p.samples {
            counts[BOUNDS.partition_point(|b| b < v)] += 1;
        }
        Some(json!(counts).to_string())
    });
    c.opt_strings("bucket_counts", buckets);
    let bounds = json!(BOUNDS).to_string();
    c.opt_strings("explicit_bounds", points.iter().map(|_| Some(bounds.as_str())));
    c.ints("aggregation_temporality", points.iter().map(|_| Some(DELTA)));
    c
}

/// The exponential-histogram bucket of `v` at `scale`: the `i` with `v` in
/// `(2^(i / 2^scale), 2^((i + 1) / 2^scale)]`.
pub fn exponential_index(v: f64, scale: i32) -> i64 {
    (v.log2() * 2f64.powi(scale)).ceil() as i64 - 1
}

/// The finest scale (at most [`MAX_SCALE`]) whose buckets hold `samples` (all positive) in at
/// most [`MAX_BUCKETS`] buckets, the first bucket's index and the counts.
pub fn exponential_buckets(samples: &[f64]) -> (i32, i64, Vec<u64>) {
    let mut scale = MAX_SCALE;
    loop {
        let indexes: Vec<i64> = samples.iter().map(|v| exponential_index(*v, scale)).collect();
        let (Some(&lo), Some(&hi)) = (indexes.iter().min(), indexes.iter().max()) else {
            return (scale, 0, Vec::new());
        };
        if hi - lo < MAX_BUCKETS || scale <= -10 {
            let mut counts = vec![0u64; (hi - lo + 1) as usize];
            for i in indexes {
                counts[(i - lo) as usize] += 1;
            }
            return (scale, lo, counts);
        }
        scale -= 1;
    }
}

/// The columns of one `metrics_exponential_histogram` file.
pub fn exponential(rng: &mut impl Rng, fleet: &Fleet, window: Window, rows: usize) -> Columns {
    let points = points(rng, fleet, window, rows, &EXPONENTIAL, 0.001);
    let buckets: Vec<_> = points.iter().map(|p| exponential_buckets(&p.samples)).collect();
    let mut c = Columns::new(points.len());
    head_columns(&mut c, &heads(&points));
    stats(&mut c, &points);
    c.ints("scale", buckets.iter().map(|b| Some(b.0)));
    c.longs("zero_count", points.iter().map(|_| Some(0)));
    c.ints("positive_offset", buckets.iter().map(|b| i32::try_from(b.1).ok()));
    c.opt_strings("positive_bucket_counts", buckets.iter().map(|b| Some(json!(b.2).to_string())));
    c.ints("negative_offset", points.iter().map(|_| Some(0)));
    c.opt_strings("negative_bucket_counts", points.iter().map(|_| Some("[]")));
    c.ints("aggregation_temporality", points.iter().map(|_| Some(DELTA)));
    c.doubles("zero_threshold", points.iter().map(|_| Some(0.0)));
    c
}

/// The columns of one `metrics_summary` file: counts and sums cumulative since midnight UTC,
/// quantiles of the last minute's samples.
pub fn summary(rng: &mut impl Rng, fleet: &Fleet, window: Window, rows: usize) -> Columns {
    let mut points = points(rng, fleet, window, rows, &SUMMARIES, 0.001);
    for p in &mut points {
        p.head.start = Some(midnight(p.head.ts));
        p.samples.sort_by(f64::total_cmp);
    }
    let mut c = Columns::new(points.len());
    head_columns(&mut c, &heads(&points));
    let rate = |p: &Point<'_>| 0.5 + 4.0 * service_factor(p.head.instance.service);
    let count = |p: &Point<'_>| {
        (rate(p) * seconds_since_midnight(p.head.ts)) as i64 + p.samples.len() as i64
    };
    let mean = |p: &Point<'_>| p.samples.iter().sum::<f64>() / p.samples.len() as f64;
    c.longs("count", points.iter().map(|p| Some(count(p))));
    c.doubles("sum", points.iter().map(|p| Some(round3(count(p) as f64 * mean(p)))));
    let quantiles = points.iter().map(|p| {
        let qs: &[f64] = if p.head.name == "go_gc_duration_seconds" {
            &[0.0, 0.25, 0.5, 0.75, 1.0]
        } else {
            &[0.5, 0.9, 0.99]
        };
        let at = |q: f64| p.samples[((p.samples.len() - 1) as f64 * q).round() as usize];
        let values: Vec<Value> = qs
            .iter()
            .map(|&q| json!({"quantile": q, "value": (at(q) * 1e6).round() / 1e6}))
            .collect();
        Some(Value::Array(values).to_string())
    });
    c.opt_strings("quantile_values", quantiles);
    c
}
