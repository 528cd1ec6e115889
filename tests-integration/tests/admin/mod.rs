//! The admin API under `/api/v1`, end to end: the real `compactor run` daemon serves it on a
//! loopback port over tables `signaldb-loadgen` wrote, on SQLite + the local filesystem and on
//! PostgreSQL + S3. Its scheduled compaction is off (`[compactor] enabled = false`) and every
//! hour is quiet at once (`quiet_period_secs = 0`), so only the API's runs change a table.
//! Requests go out byte for byte through the tests' own client (`tests_integration::http`), so a
//! path with `..` or a malformed header reaches the server as written.
//!
//! - `endpoints.rs`: every read endpoint's shape on real data, a compaction started through the
//!   API and committed, a dry run that changes nothing, the run history a page at a time;
//! - `cancel.rs`: a run cancelled mid-rewrite leaves the table and its files as they were, a
//!   second compaction of a table in flight is refused with the first run's id;
//! - `auth.rs`: the token rules (no token configured, missing, malformed or wrong credentials,
//!   `protect_reads`);
//! - `hostile.rs`: malformed and hostile requests, each a JSON `4xx` that changes nothing;
//! - `openapi.rs`: the OpenAPI document validates and lists exactly the routes served.

mod auth;
mod cancel;
mod endpoints;
mod hostile;
mod openapi;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::TableKind;
use common::tables::TableId;
use serde_json::Value;
use tests_integration::http::{HttpRequest, HttpResponse};
use tests_integration::orphans::stored;
use tests_integration::{BinCommand, BinOutput, TestEnv, hours_ending_at};

use crate::service::{COMPACTOR, Daemon, command};

const LOADGEN: &str = "signaldb-loadgen";

/// The admin token of the daemons that have one (at least 16 visible ASCII characters).
pub const TOKEN: &str = "admin-test-token-5f0c1e9a7b3d";

/// The daemon's settings every test starts from: no scheduled pass of any job, every written
/// hour quiet, partitions of two files or more compacted.
const BASE_CONFIG: &str = "\
enabled = false
quiet_period_secs = 0
min_input_files = 2
";

/// The routes of the API, as the OpenAPI document names them: every one is called by these
/// tests, and `openapi.rs` checks that the document lists exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/tables"),
    ("get", "/api/v1/tables/{tenant}/{dataset}/{table}"),
    ("get", "/api/v1/tables/{tenant}/{dataset}/{table}/plan"),
    ("post", "/api/v1/tables/{tenant}/{dataset}/{table}/compact"),
    ("post", "/api/v1/tables/{tenant}/{dataset}/{table}/retention"),
    ("post", "/api/v1/tables/{tenant}/{dataset}/{table}/orphans"),
    ("get", "/api/v1/runs"),
    ("get", "/api/v1/runs/{id}"),
    ("delete", "/api/v1/runs/{id}"),
    ("get", "/api/v1/leases"),
    ("get", "/api/v1/openapi.json"),
];

/// What a test writes with the load generator: `tenants` × `prod` × `signals`, `hours` whole
/// hours ending two hours ago (quiet, and young enough for every retention default).
#[derive(Debug, Clone, Copy)]
pub struct Data {
    pub tenants: &'static [&'static str],
    pub signals: &'static [TableKind],
    pub hours: u64,
    pub files_per_hour: u64,
    pub rows_per_file: u64,
}

/// What [`Data::write`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The tables, by tenant then signal.
    pub tables: Vec<TableId>,
    /// The hours filled (`YYYY-MM-DD-HH`), oldest first.
    pub hours: Vec<String>,
}

impl Data {
    /// Writes the data into `env` and checks the load generator's summary.
    #[track_caller]
    pub fn write(&self, env: &TestEnv) -> Written {
        let end = chrono::Utc::now() - chrono::Duration::hours(2);
        let signals: Vec<&str> = self.signals.iter().map(|s| s.as_str()).collect();
        let out = BinCommand::new(LOADGEN)
            .config_flag(env)
            .args(["--tenants", &self.tenants.join(","), "--datasets", "prod"])
            .args(["--signals", &signals.join(","), "--hours", &self.hours.to_string()])
            .args(["--files-per-hour", &self.files_per_hour.to_string()])
            .args(["--rows-per-file", &self.rows_per_file.to_string()])
            .args(["--seed", "11", "--end-time", &end.to_rfc3339(), "--json"])
            .test_env(env)
            .run();
        out.assert_success();
        let summary = out.json();
        let mut tables = Vec::new();
        for tenant in self.tenants {
            let mut kinds = self.signals.to_vec();
            kinds.sort();
            tables.extend(kinds.into_iter().map(|k| TableId::new(tenant, "prod", k).unwrap()));
        }
        let files = tables.len() as u64 * self.hours * self.files_per_hour;
        assert_eq!(summary["total_files"], files, "{summary}");
        Written { tables, hours: hours_ending_at(end, self.hours as i64) }
    }
}

/// Sets `[compactor]` to [`BASE_CONFIG`] plus `compactor` (TOML lines) and `[compactor.admin]`
/// to `admin`, replacing what an earlier call set, in `env`'s `signaldb.toml`.
pub fn configure(env: &TestEnv, compactor: &str, admin: &str) {
    let path = env.config_path();
    let mut doc: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let mut section: toml::Table = format!("{BASE_CONFIG}{compactor}").parse().unwrap();
    section.insert("admin".into(), toml::Value::Table(admin.parse().unwrap()));
    doc.insert("compactor".into(), toml::Value::Table(section));
    std::fs::write(path, toml::to_string(&doc).unwrap()).unwrap();
}

/// `[compactor.admin]` with the test token and `extra` TOML lines.
pub fn with_token(extra: &str) -> String {
    format!("token = \"{TOKEN}\"\n{extra}")
}

/// `/api/v1/tables/{tenant}/{dataset}/{table}`.
pub fn table_path(id: &TableId) -> String {
    format!("/api/v1/tables/{}/{}/{}", id.tenant, id.dataset, id.table)
}

/// A running daemon serving the admin API; a request carries the token when built with
/// [`Api::authed`].
pub struct Api {
    daemon: Daemon,
}

impl Api {
    /// Starts `compactor run` on `env` with its current configuration and `envs`.
    #[track_caller]
    pub fn start(env: &TestEnv, envs: &[(&str, &str)]) -> Api {
        let daemon = Daemon::start(|| {
            let mut cmd = command(COMPACTOR, env).args(["run"]);
            for (k, v) in envs {
                cmd = cmd.env(k, v);
            }
            cmd
        });
        Api { daemon }
    }

    /// The port it serves on.
    pub fn port(&self) -> u16 {
        self.daemon.port
    }

    /// Sends `request`; an answer of `500` (or any `5xx` but `503`) fails the test.
    #[track_caller]
    pub fn send(&self, request: HttpRequest) -> HttpResponse {
        let (method, path) = (request.method().to_string(), request.path().to_string());
        let shown: String = path.chars().take(120).collect();
        let response = request
            .send(self.port())
            .unwrap_or_else(|e| panic!("{method} {shown} on {}: {e}", self.port()));
        assert!(
            response.status < 500 || response.status == 503,
            "{method} {shown} answered {}: {}",
            response.status,
            response.body
        );
        response
    }

    /// `request` with `Authorization: Bearer <TOKEN>`.
    pub fn authed(request: HttpRequest) -> HttpRequest {
        request.header("Authorization", &format!("Bearer {TOKEN}"))
    }

    /// `GET path`, without credentials.
    #[track_caller]
    pub fn get(&self, path: &str) -> HttpResponse {
        self.send(HttpRequest::new("GET", path))
    }

    /// `GET path`: `200` with a JSON body, returned.
    #[track_caller]
    pub fn get_json(&self, path: &str) -> Value {
        let response = self.get(path);
        assert_eq!(response.status, 200, "GET {path}: {}", response.body);
        assert_eq!(response.header("content-type"), Some("application/json"), "GET {path}");
        response.json()
    }

    /// `POST path` with the token and, when given, `body` as JSON.
    #[track_caller]
    pub fn post(&self, path: &str, body: Option<Value>) -> HttpResponse {
        let request = Self::authed(HttpRequest::new("POST", path));
        self.send(match body {
            Some(body) => request.json(&body),
            None => request,
        })
    }

    /// `DELETE path` with the token.
    #[track_caller]
    pub fn delete(&self, path: &str) -> HttpResponse {
        self.send(Self::authed(HttpRequest::new("DELETE", path)))
    }

    /// Starts `job` (`compact`, `retention`, `orphans`) on `id`: checks the `202`, its
    /// `Location` and the run it shows, and returns the run.
    #[track_caller]
    pub fn start_run(&self, id: &TableId, job: &str, body: Option<Value>) -> Value {
        let path = format!("{}/{job}", table_path(id));
        let response = self.post(&path, body);
        assert_eq!(response.status, 202, "POST {path}: {}", response.body);
        let run = response.json();
        let run_id = run["id"].as_str().unwrap_or_else(|| panic!("no run id in {run}"));
        assert!(run_id.starts_with("run-") && run_id.len() == 36, "{run}");
        let location = format!("/api/v1/runs/{run_id}");
        assert_eq!(response.header("location"), Some(location.as_str()), "POST {path}");
        let expected = (id.tenant.as_str(), id.dataset.as_str(), id.table.as_str());
        let shown = (run["tenant"].as_str(), run["dataset"].as_str(), run["table"].as_str());
        assert_eq!(shown, (Some(expected.0), Some(expected.1), Some(expected.2)), "{run}");
        run
    }

    /// Follows run `id` until it has ended (within `timeout`) and returns it.
    #[track_caller]
    pub fn wait_run(&self, id: &str, timeout: Duration) -> Value {
        let started = Instant::now();
        loop {
            let run = self.get_json(&format!("/api/v1/runs/{id}"));
            let state = run["state"].as_str().unwrap_or_else(|| panic!("no state in {run}"));
            if !matches!(state, "running" | "cancelling") {
                assert!(run["finished_at"].is_string(), "an ended run has its end time: {run}");
                return run;
            }
            assert!(started.elapsed() < timeout, "run {id} still {state} after {timeout:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.daemon.is_running()
    }

    /// Stops the daemon (SIGTERM, exit 0) and checks that nothing panicked.
    #[track_caller]
    pub fn stop(self) -> BinOutput {
        let out = self.daemon.stop();
        assert!(!out.stderr.contains("panicked"), "the daemon panicked\n{}", out.streams());
        out
    }
}

/// The status and `error.code` of a refusal, after checking that it is the JSON error body
/// (`{"error": {"code", "message"}}`, a non-empty message).
#[track_caller]
pub fn error_of(response: &HttpResponse) -> (u16, String) {
    assert_eq!(response.header("content-type"), Some("application/json"), "{response:?}");
    let body = response.json();
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error.code: {body}"));
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error says what was wrong: {body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error"], "{body}");
    (response.status, code.to_string())
}

/// The `error.message` of a refusal.
#[track_caller]
pub fn message_of(response: &HttpResponse) -> String {
    response.json()["error"]["message"].as_str().unwrap_or_default().to_string()
}

/// What the catalog says of table `id` now: its metadata location and current snapshot.
pub async fn table_version(env: &TestEnv, id: &TableId) -> (String, Option<i64>) {
    let table = env.catalog().await.load_table(&id.ident()).await.unwrap();
    let location = table.metadata_location().unwrap().to_string();
    (location, table.metadata().current_snapshot().map(|s| s.snapshot_id()))
}

/// Every file stored under table `id`'s location (data and metadata).
pub async fn files_of(env: &TestEnv, id: &TableId) -> BTreeSet<String> {
    let table = env.catalog().await.load_table(&id.ident()).await.unwrap();
    stored(&env.warehouse(), table.metadata().location()).await
}

/// The entry of table `id` in a status document (`GET /tables`, `compactor status --json`).
#[track_caller]
pub fn status_entry<'a>(doc: &'a Value, id: &TableId) -> &'a Value {
    crate::compactor::entry_of(&doc["tables"], id)
}

/// The tables of a status document, as `tenant.dataset.table`.
#[track_caller]
pub fn listed(doc: &Value) -> BTreeSet<String> {
    doc["tables"]
        .as_array()
        .unwrap_or_else(|| panic!("no tables in {doc}"))
        .iter()
        .map(|t| {
            let part =
                |k: &str| t[k].as_str().unwrap_or_else(|| panic!("no {k} in {t}")).to_string();
            format!("{}.{}.{}", part("tenant"), part("dataset"), part("table"))
        })
        .collect()
}

/// `compactor status --json` against `env`: the catalog as a process of its own reads it.
#[track_caller]
pub fn status_json(env: &TestEnv) -> Value {
    let out = command(COMPACTOR, env).args(["status", "--json"]).run();
    // Its exit status says whether every table is healthy; the document is there either way.
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e})\n{}", out.streams()))
}
