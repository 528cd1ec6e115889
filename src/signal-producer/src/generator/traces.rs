//! Spans of whole traces through the fleet.
//!
//! A trace starts at an entry service with a SERVER span (the root: no parent) and fans out
//! into HTTP calls (a CLIENT span in the caller, a SERVER span in the callee), database
//! queries (CLIENT), INTERNAL work and Kafka messages (PRODUCER, then CONSUMER in each
//! subscriber). Spans are emitted parents first, so cutting a trace short at the row limit
//! never leaves a span whose parent is missing from the file. Durations are log-normal around
//! each route's median; about 2% of calls fail with a 5xx and `STATUS_CODE_ERROR`.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, StringArray};
use rand::Rng;
use serde_json::json;

use super::fleet::{self, Fleet, Instance, Route};
use super::random::{log_normal, pick, span_id};
use super::rows::{opt_strings, sort_by_time, strings, timestamps};
use super::spec::Window;

/// `SPAN_KIND_SERVER`.
pub const SERVER: &str = "SPAN_KIND_SERVER";
/// `SPAN_KIND_CLIENT`.
pub const CLIENT: &str = "SPAN_KIND_CLIENT";
/// `SPAN_KIND_INTERNAL`.
pub const INTERNAL: &str = "SPAN_KIND_INTERNAL";
/// `SPAN_KIND_PRODUCER`.
pub const PRODUCER: &str = "SPAN_KIND_PRODUCER";
/// `SPAN_KIND_CONSUMER`.
pub const CONSUMER: &str = "SPAN_KIND_CONSUMER";

/// `STATUS_CODE_OK`.
pub const OK: &str = "STATUS_CODE_OK";
/// `STATUS_CODE_UNSET`.
pub const UNSET: &str = "STATUS_CODE_UNSET";
/// `STATUS_CODE_ERROR`.
pub const ERROR: &str = "STATUS_CODE_ERROR";

/// Deepest nesting of calls below the root.
const MAX_DEPTH: u32 = 4;
/// Probability that a served request fails with a 5xx.
const SERVER_ERROR_RATE: f64 = 0.02;
/// Probability that a served request is answered with a 4xx.
const CLIENT_ERROR_RATE: f64 = 0.04;

const SERVER_ERRORS: [(u16, &str); 4] = [
    (500, "internal server error"),
    (502, "upstream connect error or disconnect/reset before headers"),
    (503, "service unavailable: too many requests in flight"),
    (504, "context deadline exceeded"),
];
const DB_ERRORS: [&str; 3] = [
    "deadlock detected",
    "connection reset by peer",
    "canceling statement due to statement timeout",
];
const MESSAGING_ERRORS: [&str; 2] = ["kafka: broker not available", "message too large for topic"];
const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
    "okhttp/4.12.0",
];

/// One generated span.
#[derive(Debug)]
pub struct Span<'f> {
    /// Start time, microseconds since the epoch.
    pub ts: i64,
    /// 32 hex characters.
    pub trace_id: Arc<str>,
    /// 16 hex characters.
    pub span_id: String,
    /// The parent's span id; `None` for the root.
    pub parent: Option<String>,
    /// Operation name.
    pub name: String,
    /// `SPAN_KIND_*`.
    pub kind: &'static str,
    /// Duration in nanoseconds.
    pub duration_ns: i64,
    /// `STATUS_CODE_*`.
    pub status: &'static str,
    /// Error description, set exactly when the status is an error.
    pub message: Option<&'static str>,
    /// Span attributes, a JSON object.
    pub attributes: serde_json::Value,
    /// The replica that recorded the span.
    pub instance: &'f Instance,
}

/// How a call ended: the HTTP status code and, on failure, why.
#[derive(Clone, Copy)]
struct Outcome {
    code: u16,
    error: Option<&'static str>,
}

/// A span's place in its trace: which span it hangs under and when it runs.
#[derive(Clone, Copy)]
struct Slot<'s> {
    parent: Option<&'s str>,
    start_us: i64,
    duration_ns: i64,
    depth: u32,
}

struct TraceBuilder<'f, 'r, R: Rng> {
    rng: &'r mut R,
    fleet: &'f Fleet,
    window: Window,
    limit: usize,
    spans: Vec<Span<'f>>,
    trace_id: Arc<str>,
}

/// The columns of one traces file with `rows` spans timed inside `window`.
pub fn generate(rng: &mut impl Rng, fleet: &Fleet, window: Window, rows: usize) -> Vec<ArrayRef> {
    columns(&spans(rng, fleet, window, rows))
}

/// `rows` spans of whole traces timed inside `window`, sorted by start time.
pub fn spans<'f>(
    rng: &mut impl Rng,
    fleet: &'f Fleet,
    window: Window,
    rows: usize,
) -> Vec<Span<'f>> {
    let mut b = TraceBuilder {
        rng,
        fleet,
        window,
        limit: rows,
        spans: Vec::with_capacity(rows),
        trace_id: Arc::from(""),
    };
    while b.spans.len() < rows {
        b.trace();
    }
    let mut spans = b.spans;
    // The last trace may overshoot by a span or two; parents precede children, so cutting
    // the tail never orphans a span.
    spans.truncate(rows);
    sort_by_time(&mut spans, |s| s.ts);
    spans
}

fn columns(spans: &[Span<'_>]) -> Vec<ArrayRef> {
    vec![
        timestamps(spans.iter().map(|s| s.ts).collect()),
        strings(spans, |s| &s.trace_id),
        strings(spans, |s| &s.span_id),
        opt_strings(spans, |s| s.parent.as_deref()),
        strings(spans, |s| &s.name),
        strings(spans, |s| s.kind),
        strings(spans, |s| s.instance.service.name),
        Arc::new(Int64Array::from_iter_values(spans.iter().map(|s| s.duration_ns))),
        strings(spans, |s| s.status),
        opt_strings(spans, |s| s.message),
        Arc::new(spans.iter().map(|s| Some(s.attributes.to_string())).collect::<StringArray>()),
        opt_strings(spans, |s| Some(&s.instance.resource)),
    ]
}

impl<'f, R: Rng> TraceBuilder<'f, '_, R> {
    fn full(&self) -> bool {
        self.spans.len() >= self.limit
    }

    /// One whole trace, entering at a random entry service.
    fn trace(&mut self) {
        self.trace_id = Arc::from(super::random::trace_id(self.rng));
        let entry = self.fleet.entry(self.rng);
        let route = pick(self.rng, entry.service.routes);
        let outcome = self.outcome();
        let mut duration_ns = ms_to_ns(log_normal(self.rng, route.median_ms, 0.6));
        if outcome.code == 504 {
            duration_ns = ms_to_ns(self.rng.random_range(5_000.0..30_000.0));
        }
        let start_us = self.window.sample(self.rng);
        let slot = Slot { parent: None, start_us, duration_ns, depth: 0 };
        self.server(entry, route, slot, outcome);
    }

    fn outcome(&mut self) -> Outcome {
        let roll: f64 = self.rng.random();
        if roll < SERVER_ERROR_RATE {
            let (code, message) = *pick(self.rng, &SERVER_ERRORS);
            Outcome { code, error: Some(message) }
        } else if roll < SERVER_ERROR_RATE + CLIENT_ERROR_RATE {
            Outcome { code: *pick(self.rng, &[400, 401, 404, 404, 409, 429]), error: None }
        } else {
            Outcome { code: 200, error: None }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        inst: &'f Instance,
        slot: Slot<'_>,
        name: String,
        kind: &'static str,
        status: &'static str,
        message: Option<&'static str>,
        attributes: serde_json::Value,
    ) -> String {
        let id = span_id(self.rng);
        self.spans.push(Span {
            ts: self.window.clamp(slot.start_us),
            trace_id: self.trace_id.clone(),
            span_id: id.clone(),
            parent: slot.parent.map(str::to_string),
            name,
            kind,
            duration_ns: slot.duration_ns.max(1_000),
            status,
            message,
            attributes,
            instance: inst,
        });
        id
    }

    /// A SERVER span for `route` on `inst`, then the work it does.
    fn server(&mut self, inst: &'f Instance, route: &Route, slot: Slot<'_>, outcome: Outcome) {
        if self.full() {
            return;
        }
        let target = concrete(self.rng, route.route);
        let code = success_code(route.method, outcome.code);
        let mut attributes = json!({
            "http.method": route.method,
            "http.route": route.route,
            "http.target": target,
            "http.scheme": "http",
            "http.status_code": code,
            "net.host.name": inst.service.name,
            "net.host.port": 8080,
        });
        if slot.parent.is_none() {
            attributes["http.user_agent"] = json!(pick(self.rng, &USER_AGENTS));
            attributes["http.client_ip"] =
                json!(format!("203.0.113.{}", self.rng.random_range(1..255)));
        }
        let (status, message) = match outcome.error {
            Some(m) => (ERROR, Some(m)),
            None if code >= 400 => (UNSET, None),
            None => (OK, None),
        };
        let name = format!("{} {}", route.method, route.route);
        let id = self.push(inst, slot, name, SERVER, status, message, attributes);
        self.work(inst, Slot { parent: Some(&id), ..slot });
    }

    /// Children of a span doing work on `inst`: calls, queries, messages and internal steps,
    /// laid out one after another inside the parent's duration.
    fn work(&mut self, inst: &'f Instance, parent: Slot<'_>) {
        if parent.depth >= MAX_DEPTH {
            return;
        }
        let max_children = [5, 3, 2, 1][parent.depth.min(3) as usize];
        let n = self.rng.random_range(usize::from(parent.depth == 0)..=max_children);
        if n == 0 {
            return;
        }
        let slot_ns = parent.duration_ns * 8 / 10 / n as i64;
        let mut cursor_us =
            parent.start_us + self.rng.random_range(0..=parent.duration_ns / 20_000);
        for _ in 0..n {
            if self.full() {
                return;
            }
            let duration_ns = (slot_ns as f64 * self.rng.random_range(0.3..0.95)) as i64;
            let child = Slot {
                parent: parent.parent,
                start_us: cursor_us,
                duration_ns,
                depth: parent.depth + 1,
            };
            cursor_us += slot_ns / 1_000;
            let s = inst.service;
            let mut choices: Vec<u8> = vec![0];
            if !s.calls.is_empty() {
                choices.extend([1, 1, 1]);
            }
            if s.database.is_some() {
                choices.extend([2, 2]);
            }
            if !s.publishes.is_empty() {
                choices.push(3);
            }
            match pick(self.rng, &choices) {
                1 => self.call(inst, child),
                2 => self.query(inst, child),
                3 => self.publish(inst, child),
                _ => self.internal(inst, child),
            }
        }
    }

    /// An HTTP call from `inst` to one of the services it depends on.
    fn call(&mut self, inst: &'f Instance, slot: Slot<'_>) {
        let callee_name = *pick(self.rng, inst.service.calls);
        let callee = self.fleet.replica_of(self.rng, callee_name);
        let route = pick(self.rng, callee.service.routes);
        let outcome = self.outcome();
        let target = concrete(self.rng, route.route);
        let code = success_code(route.method, outcome.code);
        let attributes = json!({
            "http.method": route.method,
            "http.url": format!("http://{callee_name}:8080{target}"),
            "http.status_code": code,
            "net.peer.name": callee_name,
            "net.peer.port": 8080,
        });
        let (status, message) = match outcome.error {
            Some(m) => (ERROR, Some(m)),
            None if code >= 400 => (ERROR, Some("client error")),
            None => (OK, None),
        };
        let name = format!("{} {}", route.method, route.route);
        let id = self.push(inst, slot, name, CLIENT, status, message, attributes);
        let server = Slot {
            parent: Some(&id),
            start_us: slot.start_us + self.rng.random_range(50..800),
            duration_ns: slot.duration_ns * 9 / 10,
            depth: slot.depth,
        };
        self.server(callee, route, server, outcome);
    }

    /// A database query from `inst`.
    fn query(&mut self, inst: &'f Instance, slot: Slot<'_>) {
        let Some(db) = &inst.service.database else { return };
        let table = *pick(self.rng, db.tables);
        let id = self.rng.random_range(1..1_000_000);
        let (operation, statement) = match db.system {
            "redis" => {
                let op = *pick(self.rng, &["GET", "SET", "HGETALL", "EXPIRE"]);
                (op, format!("{op} {table}:{id}"))
            }
            "elasticsearch" => ("search", format!("GET /{table}/_search")),
            _ => match self.rng.random_range(0..10) {
                0..6 => ("SELECT", format!("SELECT * FROM {table} WHERE id = $1")),
                6..8 => ("INSERT", format!("INSERT INTO {table} VALUES ($1, $2, $3)")),
                _ => ("UPDATE", format!("UPDATE {table} SET updated_at = now() WHERE id = $1")),
            },
        };
        let median_ms = if db.system == "redis" { 0.4 } else { 3.0 };
        let duration_ns = ms_to_ns(log_normal(self.rng, median_ms, 0.7)).min(slot.duration_ns);
        let failed = self.rng.random_bool(0.005);
        let (status, message) =
            if failed { (ERROR, Some(*pick(self.rng, &DB_ERRORS))) } else { (OK, None) };
        let attributes = json!({
            "db.system": db.system,
            "db.name": db.name,
            "db.operation": operation,
            "db.sql.table": table,
            "db.statement": statement,
            "net.peer.name": format!("{}-{}", db.name, db.system),
        });
        let name = format!("{operation} {}.{table}", db.name);
        self.push(inst, Slot { duration_ns, ..slot }, name, CLIENT, status, message, attributes);
    }

    /// A Kafka message from `inst`, then its processing in every subscriber.
    fn publish(&mut self, inst: &'f Instance, slot: Slot<'_>) {
        let topic = *pick(self.rng, inst.service.publishes);
        let partition = self.rng.random_range(0..12);
        let failed = self.rng.random_bool(0.003);
        let (status, message) =
            if failed { (ERROR, Some(*pick(self.rng, &MESSAGING_ERRORS))) } else { (OK, None) };
        let duration_ns = ms_to_ns(log_normal(self.rng, 1.5, 0.5)).min(slot.duration_ns);
        let attributes = json!({
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.operation": "publish",
            "messaging.kafka.destination.partition": partition,
        });
        let id = self.push(
            inst,
            Slot { duration_ns, ..slot },
            format!("{topic} publish"),
            PRODUCER,
            status,
            message,
            attributes,
        );
        if failed {
            return;
        }
        for consumer in fleet::consumers_of(topic) {
            if self.full() {
                return;
            }
            let replica = self.fleet.replica_of(self.rng, consumer.name);
            let lag_us = ms_to_ns(log_normal(self.rng, 40.0, 0.8)) / 1_000;
            let process = Slot {
                parent: Some(&id),
                start_us: slot.start_us + lag_us,
                duration_ns: ms_to_ns(log_normal(self.rng, 25.0, 0.6)),
                depth: slot.depth,
            };
            let attributes = json!({
                "messaging.system": "kafka",
                "messaging.destination.name": topic,
                "messaging.operation": "process",
                "messaging.kafka.consumer.group": consumer.name,
                "messaging.kafka.source.partition": partition,
            });
            let name = format!("{topic} process");
            let cid = self.push(replica, process, name, CONSUMER, OK, None, attributes);
            self.work(replica, Slot { parent: Some(&cid), ..process });
        }
    }

    /// An internal step of `inst`'s own code.
    fn internal(&mut self, inst: &'f Instance, slot: Slot<'_>) {
        let function = *pick(self.rng, inst.service.functions);
        let attributes = json!({
            "code.function": function,
            "code.namespace": inst.service.name,
            "thread.id": self.rng.random_range(1..64),
        });
        let id = self.push(inst, slot, function.to_string(), INTERNAL, OK, None, attributes);
        if slot.depth + 1 < MAX_DEPTH && self.rng.random_bool(0.3) {
            self.query(inst, Slot { parent: Some(&id), depth: slot.depth + 1, ..slot });
        }
    }
}

/// The route template with `{id}` replaced by a concrete id.
fn concrete(rng: &mut impl Rng, route: &str) -> String {
    route.replace("{id}", &rng.random_range(1..100_000).to_string())
}

/// The status code of a call that did not fail: what the method answers on success, or the
/// chosen error code.
fn success_code(method: &str, code: u16) -> u16 {
    match (code, method) {
        (200, "POST") => 201,
        (200, "DELETE") => 204,
        (code, _) => code,
    }
}

fn ms_to_ns(ms: f64) -> i64 {
    (ms * 1_000_000.0) as i64
}
