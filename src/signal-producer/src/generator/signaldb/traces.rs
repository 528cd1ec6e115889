//! `traces` (`physical-v3`): the classic generator's spans with SignalDB's columns.
//!
//! Span kinds and status codes are spelled as SignalDB's writer spells them (`Server`, `Ok`,
//! …) with their OTLP numbers beside them; a failed span carries an `exception` event, a
//! Kafka consumer span a link to the message's producer span; `events` and `links` are JSON
//! arrays (`[]` when empty). `start_time_unix_nano` is `timestamp` with a sub-microsecond part.

use rand::Rng;
use serde_json::json;

use super::columns::{Columns, MapColumn};
use super::scope::{Instrumentation, RESOURCE_SCHEMA_URL, scope};
use crate::generator::fleet::Fleet;
use crate::generator::spec::Window;
use crate::generator::traces::{self, Span};

/// SignalDB's name and the OTLP number of a `SPAN_KIND_*`.
fn kind(kind: &str) -> (&'static str, i32) {
    match kind {
        traces::INTERNAL => ("Internal", 1),
        traces::SERVER => ("Server", 2),
        traces::CLIENT => ("Client", 3),
        traces::PRODUCER => ("Producer", 4),
        traces::CONSUMER => ("Consumer", 5),
        _ => ("Unspecified", 0),
    }
}

/// SignalDB's name and the OTLP number of a `STATUS_CODE_*`.
fn status(status: &str) -> (&'static str, i32) {
    match status {
        traces::OK => ("Ok", 1),
        traces::ERROR => ("Error", 2),
        _ => ("Unspecified", 0),
    }
}

/// The instrumentation that records a span like `span`.
fn instrumentation(span: &Span<'_>) -> Instrumentation {
    let attrs = &span.attributes;
    if attrs.get("db.system").is_some() {
        Instrumentation::Db
    } else if attrs.get("messaging.system").is_some() {
        Instrumentation::Messaging
    } else if attrs.get("http.method").is_some() {
        Instrumentation::Http
    } else {
        Instrumentation::App
    }
}

/// The exception type a service of `language` reports for a failed call.
fn exception_type(language: &str) -> &'static str {
    match language {
        "go" => "*url.Error",
        "java" => "java.net.SocketTimeoutException",
        "python" => "requests.exceptions.ConnectionError",
        "nodejs" => "FetchError",
        "dotnet" => "System.Net.Http.HttpRequestException",
        _ => "RuntimeError",
    }
}

/// A vendor `tracestate` on about one trace in sixteen, the same for every span of the trace.
fn trace_state(trace_id: &str) -> Option<String> {
    trace_id.ends_with('0').then(|| format!("congo=t61rcWkgMzE,rojo={}", &trace_id[..16]))
}

/// The columns of one traces file with `rows` spans timed inside `window`.
pub fn generate(rng: &mut impl Rng, fleet: &Fleet, window: Window, rows: usize) -> Columns {
    let spans = traces::spans(rng, fleet, window, rows);
    let start_ns: Vec<i64> =
        spans.iter().map(|s| s.ts * 1_000 + rng.random_range(0..1_000)).collect();
    let end_ns: Vec<i64> = spans.iter().zip(&start_ns).map(|(s, t)| t + s.duration_ns).collect();
    let mut c = Columns::new(spans.len());
    c.strings("trace_id", spans.iter().map(|s| &*s.trace_id));
    c.strings("span_id", spans.iter().map(|s| s.span_id.as_str()));
    c.opt_strings("parent_span_id", spans.iter().map(|s| s.parent.as_deref()));
    c.strings("span_name", spans.iter().map(|s| s.name.as_str()));
    c.strings("service_name", spans.iter().map(|s| s.instance.service.name));
    c.longs("start_time_unix_nano", start_ns.iter().copied().map(Some));
    c.longs("end_time_unix_nano", end_ns.iter().copied().map(Some));
    c.longs("duration_nanos", spans.iter().map(|s| Some(s.duration_ns)));
    c.strings("span_kind", spans.iter().map(|s| kind(s.kind).0));
    c.strings("status_code", spans.iter().map(|s| status(s.status).0));
    c.opt_strings("status_message", spans.iter().map(|s| s.message));
    c.bools("is_root", spans.iter().map(|s| s.parent.is_none()));
    let mut attributes = MapColumn::default();
    let mut resources = MapColumn::default();
    let mut scope_attributes = MapColumn::default();
    for s in &spans {
        attributes.push_json(&s.attributes);
        resources.push(s.instance.attributes.iter().map(|(k, v)| (*k, v)));
        scope_attributes.push::<&str, &str>([]);
    }
    c.map("span_attributes", attributes);
    c.map("resource_attributes", resources);
    let events = spans.iter().zip(&end_ns).map(|(s, end)| {
        let Some(message) = s.message else { return "[]".to_string() };
        let language = s.instance.service.language;
        json!([{
            "name": "exception",
            "time_unix_nano": end - 1_000,
            "attributes": {
                "exception.type": exception_type(language),
                "exception.message": message,
                "exception.escaped": "false",
            },
        }])
        .to_string()
    });
    c.opt_strings("events", events.map(Some));
    let links = spans.iter().map(|s| match (&s.parent, s.kind) {
        (Some(producer), traces::CONSUMER) => json!([{
            "trace_id": &*s.trace_id,
            "span_id": producer,
            "attributes": {"messaging.operation": "publish"},
        }])
        .to_string(),
        _ => "[]".to_string(),
    });
    c.opt_strings("links", links.map(Some));
    c.opt_strings("trace_state", spans.iter().map(|s| trace_state(&s.trace_id)));
    c.opt_strings("resource_schema_url", spans.iter().map(|_| Some(RESOURCE_SCHEMA_URL)));
    let scopes: Vec<_> =
        spans.iter().map(|s| scope(s.instance.service, instrumentation(s))).collect();
    c.opt_strings("scope_name", scopes.iter().map(|(name, _)| Some(*name)));
    c.opt_strings("scope_version", scopes.iter().map(|(_, version)| Some(*version)));
    c.opt_strings("scope_schema_url", spans.iter().map(|_| None::<&str>));
    c.map("scope_attributes", scope_attributes);
    c.time(&spans.iter().map(|s| s.ts).collect::<Vec<_>>());
    c.ints("span_kind_number", spans.iter().map(|s| Some(kind(s.kind).1)));
    c.ints("status_code_number", spans.iter().map(|s| Some(status(s.status).1)));
    for name in ["dropped_attributes_count", "dropped_events_count", "dropped_links_count"] {
        c.longs(name, spans.iter().map(|_| Some(0)));
    }
    c
}
