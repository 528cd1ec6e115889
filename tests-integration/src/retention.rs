//! Fixtures for the retention tests. The binaries read the real clock, so data is written
//! relative to now: [`RecentLoad`] fills whole hours counted back from the current hour, and a
//! test decides what must be expired from the cutoff the pass reports. Also: the retention
//! details of a table's report, and tags and branches created with pyiceberg.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use common::tables::TableId;
use serde_json::Value;

use crate::bins::BinCommand;
use crate::env::TestEnv;
use crate::hours::hour_label;
use crate::require::require_python;
use crate::workspace::workspace_root;

/// The hour (since the epoch) that contains `now`.
pub fn hour_of(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(3_600)
}

/// Whether the whole of `hour` ends at or before `cutoff`.
pub fn expired_at(hour: i64, cutoff: DateTime<Utc>) -> bool {
    (hour + 1) * 3_600 <= cutoff.timestamp()
}

/// A `signaldb-loadgen` run filling the hours `current − newest_ago ..= current − oldest_ago`
/// (`current` = the hour holding `now`), one snapshot per table and hour, in every
/// tenant × dataset × signal given.
#[derive(Debug, Clone)]
pub struct RecentLoad {
    /// Tenants written.
    pub tenants: Vec<&'static str>,
    /// Datasets written (each tenant gets each).
    pub datasets: Vec<&'static str>,
    /// Signals written.
    pub signals: Vec<&'static str>,
    /// The newest hour written, in hours before the current one.
    pub newest_ago: i64,
    /// The oldest hour written, in hours before the current one.
    pub oldest_ago: i64,
    /// Rows per file (one file per hour).
    pub rows_per_file: u64,
}

impl RecentLoad {
    /// The hours (since the epoch) written when the current hour is `current`, oldest first.
    pub fn hours(&self, current: i64) -> Vec<i64> {
        (current - self.oldest_ago..=current - self.newest_ago).collect()
    }

    /// Every table written.
    pub fn tables(&self) -> Vec<TableId> {
        let mut out = Vec::new();
        for tenant in &self.tenants {
            for dataset in &self.datasets {
                for signal in &self.signals {
                    out.push(TableId::new(tenant, dataset, signal.parse().unwrap()).unwrap());
                }
            }
        }
        out
    }

    /// Runs the load generator against `env` with `current` as the current hour; returns the
    /// hours written.
    #[track_caller]
    pub fn run(&self, env: &TestEnv, current: i64, seed: u64) -> Vec<i64> {
        let hours = self.hours(current);
        let end = DateTime::from_timestamp((current - self.newest_ago) * 3_600 + 1_800, 0).unwrap();
        let out = BinCommand::new("signaldb-loadgen")
            .config_flag(env)
            .args(["--tenants", &self.tenants.join(","), "--datasets", &self.datasets.join(",")])
            .args(["--signals", &self.signals.join(","), "--hours", &hours.len().to_string()])
            .args(["--files-per-hour", "1", "--rows-per-file", &self.rows_per_file.to_string()])
            .args(["--seed", &seed.to_string(), "--end-time", &end.to_rfc3339(), "--json"])
            .test_env(env)
            .run();
        out.assert_success();
        let summary = out.json();
        let files = (self.tables().len() * hours.len()) as u64;
        assert_eq!(summary["total_files"], files, "{summary}");
        hours
    }
}

/// The `details` of table `id` in the first report of a `compactor retention --json` document.
#[track_caller]
pub fn retention_details<'a>(doc: &'a Value, id: &TableId) -> &'a Value {
    let tables = doc["reports"][0]["tables"].as_array().unwrap_or_else(|| panic!("{doc}"));
    let entry = tables
        .iter()
        .find(|t| {
            t["tenant"] == id.tenant.as_str()
                && t["dataset"] == id.dataset.as_str()
                && t["table"] == id.table.as_str()
        })
        .unwrap_or_else(|| panic!("{id} is not in {doc}"));
    assert_eq!(entry["error"], Value::Null, "{entry}");
    &entry["details"]
}

/// The cutoff a table's retention details report.
#[track_caller]
pub fn reported_cutoff(details: &Value) -> DateTime<Utc> {
    let text = details["policy"]["cutoff"].as_str().unwrap_or_else(|| panic!("{details}"));
    text.parse().unwrap_or_else(|e| panic!("cutoff {text}: {e}"))
}

/// Labels of the partitions a table's retention details list as dropped (or to drop).
pub fn dropped_labels(details: &Value) -> Vec<String> {
    let list = details["partitions_dropped"].as_array().cloned().unwrap_or_default();
    list.iter().filter_map(|p| p["hour_label"].as_str().map(String::from)).collect()
}

/// Ids of the snapshots a table's retention details list as expired (or to expire).
pub fn expired_ids(details: &Value) -> Vec<i64> {
    let list = details["snapshots_expired"].as_array().cloned().unwrap_or_default();
    list.iter().filter_map(|s| s["snapshot_id"].as_i64()).collect()
}

/// Labels of `hours` that end at or before `cutoff`, and of those that do not.
pub fn split_at(hours: &[i64], cutoff: DateTime<Utc>) -> (Vec<String>, Vec<String>) {
    let (gone, kept): (Vec<i64>, Vec<i64>) = hours.iter().partition(|h| expired_at(**h, cutoff));
    (gone.into_iter().map(hour_label).collect(), kept.into_iter().map(hour_label).collect())
}

/// Creates `tags` and `branches` (name → snapshot id) on `table` (`tenant.dataset.table`) with
/// pyiceberg, in one commit; returns every ref the table then has.
///
/// Call [`require_python`] first so a run without Python skips rather than fails here.
#[track_caller]
pub fn pyiceberg_create_refs(
    env: &TestEnv,
    table: &str,
    tags: &[(&str, i64)],
    branches: &[(&str, i64)],
) -> BTreeMap<String, i64> {
    let python = require_python().expect("gate the test with require_python() first");
    let conn = env.pyiceberg();
    let mut cmd = Command::new(&python);
    cmd.arg(workspace_root().join("tests-integration/src/pyiceberg_refs.py"))
        .args(["--catalog-name", &conn.catalog_name, "--uri", &conn.uri])
        .args(["--warehouse", &conn.warehouse, "--table", table]);
    for (key, value) in &conn.props {
        cmd.arg("--prop").arg(format!("{key}={value}"));
    }
    for (name, id) in tags {
        cmd.arg("--tag").arg(format!("{name}={id}"));
    }
    for (name, id) in branches {
        cmd.arg("--branch").arg(format!("{name}={id}"));
    }
    let output = cmd.stdin(Stdio::null()).output().expect("running pyiceberg_refs.py");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "pyiceberg_refs.py failed\n{stdout}\n{stderr}");
    let doc: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("pyiceberg_refs.py printed no JSON ({e})\n{stdout}"));
    doc["refs"]
        .as_object()
        .unwrap_or_else(|| panic!("{doc}"))
        .iter()
        .map(|(name, id)| (name.clone(), id.as_i64().unwrap()))
        .collect()
}
