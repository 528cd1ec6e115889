//! The compactor service end to end, through the real `compactor` and `signaldb` binaries: the
//! daemon's schedulers, `/metrics`, `/healthz` and `/readyz`, SIGTERM, the one-shot commands'
//! exit codes and `--json` reports, and failures that must stay contained (one broken table,
//! an unreachable catalog, a busy port).
//!
//! The jobs' table work is a survey today (load each table, export its size gauges, change
//! nothing); these tests check the service around the jobs, not what later jobs will change.

mod daemon;
mod failures;
mod one_shot;
mod signaldb_bin;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::TableKind;
use common::tables::TableId;
use tests_integration::http::{HttpResponse, free_port, http_get};
use tests_integration::metrics_text::{Exposition, MetricKind};
use tests_integration::{BinChild, BinCommand, BinOutput, TestEnv};

pub const COMPACTOR: &str = "compactor";
pub const SIGNALDB: &str = "signaldb";
const LOADGEN: &str = "signaldb-loadgen";

/// Hours, files per hour and rows per file of [`loadgen`]'s runs.
const HOURS: u64 = 2;
const FILES_PER_HOUR: u64 = 2;
const ROWS_PER_FILE: u64 = 20;
/// Live data files of each table [`loadgen`] writes.
pub const FILES_PER_TABLE: u64 = HOURS * FILES_PER_HOUR;
/// Snapshots of each table [`loadgen`] writes (one per hour).
pub const SNAPSHOTS_PER_TABLE: u64 = HOURS;

/// How long a daemon may take to stop after SIGTERM when nothing is in flight.
pub const STOP_WITHIN: Duration = Duration::from_secs(10);

/// Writes `tenants` × `prod` × every signal with the load generator (2 hours ending now, 2 files
/// per hour, 20 rows per file) and returns the tables, in the order of the reports
/// (tenant, dataset, then signal in `TableKind::SIGNAL_NAMED` order).
///
/// The data is recent and small on purpose: no retention default, grace period, quiet period
/// or minimum file count lets any job change it, so the counts below stay true.
pub fn loadgen(env: &TestEnv, tenants: &[&str]) -> Vec<TableId> {
    let (hours, files, rows) =
        (HOURS.to_string(), FILES_PER_HOUR.to_string(), ROWS_PER_FILE.to_string());
    let out = BinCommand::new(LOADGEN)
        .config_flag(env)
        .args(["--tenants", &tenants.join(","), "--datasets", "prod"])
        .args(["--signals", "traces,logs,metrics", "--hours", &hours])
        .args(["--files-per-hour", &files, "--rows-per-file", &rows, "--seed", "7", "--json"])
        .test_env(env)
        .run();
    out.assert_success();
    let summary = out.json();
    let mut ids = Vec::new();
    for tenant in tenants {
        for signal in TableKind::SIGNAL_NAMED {
            ids.push(TableId::new(tenant, "prod", signal).unwrap());
        }
    }
    assert_eq!(summary["total_files"], ids.len() as u64 * FILES_PER_TABLE, "{summary}");
    ids
}

/// A `compactor` (or `signaldb`) command against `env` with logging fixed at `info`, whatever
/// `RUST_LOG` the caller's shell has.
pub fn command(bin: &str, env: &TestEnv) -> BinCommand {
    BinCommand::new(bin).test_env(env).env("RUST_LOG", "info")
}

/// A running daemon (`compactor run` or `signaldb`) and the port of its HTTP endpoint.
/// Dropping it kills the process.
pub struct Daemon {
    child: BinChild,
    /// The metrics port it listens on.
    pub port: u16,
}

impl Daemon {
    /// Starts `build(port)` on a free port (passed as `SIGNALDB_COMPACTOR_METRICS_PORT`) and
    /// waits until `/healthz` answers; retries on another port when the chosen one was taken
    /// in the meantime.
    #[track_caller]
    pub fn start(build: impl Fn() -> BinCommand) -> Daemon {
        const ATTEMPTS: usize = 5;
        for attempt in 1..=ATTEMPTS {
            let port = free_port();
            let mut child =
                build().env("SIGNALDB_COMPACTOR_METRICS_PORT", &port.to_string()).spawn();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if !child.is_running() {
                    let out = child.wait_timeout(Duration::from_secs(1));
                    if out.stderr.contains("already in use") && attempt < ATTEMPTS {
                        break;
                    }
                    panic!("{} exited before serving /healthz\n{}", out.command, out.streams());
                }
                if http_get(port, "/healthz").is_ok_and(|r| r.status == 200) {
                    return Daemon { child, port };
                }
                if Instant::now() > deadline {
                    let out = child.wait_timeout(Duration::ZERO);
                    panic!("{} served no /healthz within 20 s\n{}", out.command, out.streams());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// `GET path` on the daemon's port.
    #[track_caller]
    pub fn get(&self, path: &str) -> HttpResponse {
        http_get(self.port, path).unwrap_or_else(|e| panic!("GET {path} on {}: {e}", self.port))
    }

    /// `GET /metrics`, checked as a valid exposition.
    #[track_caller]
    pub fn scrape(&self) -> Exposition {
        let response = self.get("/metrics");
        assert_eq!(response.status, 200, "/metrics: {}", response.body);
        let content_type = response.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        Exposition::parse(&response.body).unwrap_or_else(|e| {
            panic!("/metrics is not valid exposition text: {e}\n{}", response.body)
        })
    }

    /// Scrapes until `done` holds (failing after `timeout`, or if the process exits).
    #[track_caller]
    pub fn scrape_until(
        &mut self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Exposition) -> bool,
    ) -> Exposition {
        let deadline = Instant::now() + timeout;
        loop {
            assert!(self.child.is_running(), "the daemon exited while waiting for {what}");
            let metrics = self.scrape();
            if done(&metrics) {
                return metrics;
            }
            assert!(Instant::now() < deadline, "no {what} within {timeout:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.is_running()
    }

    /// Sends SIGTERM and returns the output; fails unless it exits 0 within [`STOP_WITHIN`].
    #[track_caller]
    pub fn stop(self) -> BinOutput {
        let started = Instant::now();
        self.child.terminate();
        let out = self.child.wait_timeout(STOP_WITHIN);
        out.assert_success();
        eprintln!("{} stopped {:?} after SIGTERM", out.command, started.elapsed());
        out
    }
}

/// `compactor_scheduler_cycles_total{task, outcome}` (0 when absent).
pub fn cycles(metrics: &Exposition, job: &str, outcome: &str) -> f64 {
    metrics
        .value("compactor_scheduler_cycles_total", &[("task", job), ("outcome", outcome)])
        .unwrap_or(0.0)
}

/// The value of a per-table family (`{tenant, dataset, table}`) for `id`.
pub fn table_value(metrics: &Exposition, family: &str, id: &TableId) -> Option<f64> {
    let labels = [
        ("tenant", id.tenant.as_str()),
        ("dataset", id.dataset.as_str()),
        ("table", id.table.as_str()),
    ];
    metrics.value(family, &labels)
}

/// How a spec family is keyed.
#[derive(Debug, Clone, Copy)]
enum Keys {
    /// `{tenant, dataset, signal}`: one series per table.
    Signal,
    /// `{tenant, dataset, table}`: one series per table.
    Table,
    /// `{tenant, dataset}`: one series per dataset.
    Dataset,
    /// `{task, outcome}`.
    TaskOutcome,
}

impl Keys {
    fn names(self) -> BTreeSet<&'static str> {
        BTreeSet::from_iter(
            match self {
                Keys::Signal => ["tenant", "dataset", "signal"].as_slice(),
                Keys::Table => &["tenant", "dataset", "table"],
                Keys::Dataset => &["tenant", "dataset"],
                Keys::TaskOutcome => &["task", "outcome"],
            }
            .iter()
            .copied(),
        )
    }
}

/// The metric families the spec and the issue name, with their type and labels: the contract
/// dashboards and alerts are written against.
const SPEC_FAMILIES: &[(&str, MetricKind, Keys)] = &[
    ("compactor_compaction_runs_total", MetricKind::Counter, Keys::Signal),
    ("compactor_files_compacted_total", MetricKind::Counter, Keys::Signal),
    ("compactor_bytes_compacted_total", MetricKind::Counter, Keys::Signal),
    ("compactor_compaction_duration_seconds", MetricKind::Histogram, Keys::Signal),
    ("compactor_retention_cutoffs_computed", MetricKind::Counter, Keys::Signal),
    ("compactor_partitions_evaluated_total", MetricKind::Counter, Keys::Signal),
    ("compactor_partitions_dropped_total", MetricKind::Counter, Keys::Signal),
    ("compactor_snapshots_expired_total", MetricKind::Counter, Keys::Table),
    ("compactor_retention_enforcement_duration_seconds", MetricKind::Histogram, Keys::Dataset),
    ("compactor_orphan_cleanup_runs_total", MetricKind::Counter, Keys::Table),
    ("compactor_files_scanned_total", MetricKind::Counter, Keys::Table),
    ("compactor_orphans_identified_total", MetricKind::Counter, Keys::Table),
    ("compactor_files_deleted_total", MetricKind::Counter, Keys::Table),
    ("compactor_deletion_failures_total", MetricKind::Counter, Keys::Table),
    ("compactor_bytes_freed_total", MetricKind::Counter, Keys::Table),
    ("compactor_orphan_cleanup_duration_seconds", MetricKind::Histogram, Keys::Table),
    ("compactor_scheduler_cycles_total", MetricKind::Counter, Keys::TaskOutcome),
    ("compactor_table_data_files", MetricKind::Gauge, Keys::Table),
    ("compactor_table_data_bytes", MetricKind::Gauge, Keys::Table),
    ("compactor_table_snapshots", MetricKind::Gauge, Keys::Table),
];

/// Scheduler families beyond the spec's list, keyed by `task` (the job) only.
const TASK_FAMILIES: &[(&str, MetricKind)] = &[
    ("compactor_scheduler_skipped_ticks_total", MetricKind::Counter),
    ("compactor_scheduler_cycle_duration_seconds", MetricKind::Histogram),
    ("compactor_scheduler_last_success_timestamp_seconds", MetricKind::Gauge),
];

/// Checks that every spec family is present with its type and exact label names, with a
/// series for each of `tables` (or their datasets), and that the scheduler families have a
/// series for each of `jobs`.
#[track_caller]
pub fn assert_spec_families(metrics: &Exposition, tables: &[TableId], jobs: &[&str]) {
    let ours: BTreeSet<&str> = SPEC_FAMILIES.iter().map(|(name, ..)| *name).collect();
    let crate_list: BTreeSet<&str> = compactor::SPEC_FAMILIES.iter().copied().collect();
    assert_eq!(ours, crate_list, "compactor::SPEC_FAMILIES drifted from the spec");

    let present: Vec<&str> = metrics.names().collect();
    for &(name, kind, keys) in SPEC_FAMILIES {
        let family = metrics
            .family(name)
            .unwrap_or_else(|| panic!("/metrics lacks spec family {name}; it has {present:?}"));
        assert_eq!(family.kind, kind, "{name}");
        assert!(!family.help.is_empty(), "{name} has no HELP");
        assert_eq!(family.label_names(), keys.names(), "labels of {name}");
        for id in tables {
            // The value each label must have for `id`; `task` and `outcome` may have any.
            let expected = |label: &str| match label {
                "tenant" => Some(id.tenant.as_str()),
                "dataset" => Some(id.dataset.as_str()),
                "signal" | "table" => Some(id.table.as_str()),
                _ => None,
            };
            let found = family
                .series
                .iter()
                .any(|s| s.labels.iter().all(|(k, v)| expected(k).is_none_or(|e| e == v)));
            assert!(found, "{name} has no series for {id}: {:?}", family.series);
        }
    }
    for job in jobs {
        for outcome in ["success", "failure"] {
            let series = [("task", *job), ("outcome", outcome)];
            let value = metrics.value("compactor_scheduler_cycles_total", &series);
            assert!(value.is_some(), "no compactor_scheduler_cycles_total{series:?}");
        }
        for &(name, kind) in TASK_FAMILIES {
            let family = metrics.family(name).unwrap_or_else(|| panic!("/metrics lacks {name}"));
            assert_eq!(family.kind, kind, "{name}");
            assert_eq!(family.label_names(), BTreeSet::from(["task"]), "labels of {name}");
            assert!(metrics.value(name, &[("task", job)]).is_some(), "{name} has no task={job}");
        }
    }
}

/// How many log lines carry `message`: the `message` field of JSON lines
/// (`--log-format json`), or a substring of text lines.
pub fn count_log(stderr: &str, message: &str) -> usize {
    stderr
        .lines()
        .filter(|line| match serde_json::from_str::<serde_json::Value>(line) {
            Ok(json) => json["message"] == message,
            Err(_) => line.contains(message),
        })
        .count()
}
