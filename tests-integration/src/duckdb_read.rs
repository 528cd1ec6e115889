//! Reading tables with DuckDB's iceberg extension (`src/duckdb_read.py`), an Iceberg reader
//! that shares no code with ours or pyiceberg and goes through no catalog: it is handed a
//! table's metadata file and reads the current snapshot, or an older one by id, the way a query
//! engine pointed at the warehouse would.
//!
//! DuckDB and its `avro`, `iceberg` and `httpfs` extensions are pinned packages of the test venv
//! (`scripts/requirements-test.txt`); the script loads the extensions from there and never
//! downloads one. Gate a test with [`require_python`] as for pyiceberg.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

use crate::env::TestEnv;
use crate::pyiceberg::json_of;
use crate::require::require_python;
use crate::workspace::workspace_root;

const SCRIPT: &str = "tests-integration/src/duckdb_read.py";

/// What DuckDB read from one metadata file at one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuckScan {
    /// The metadata file it was given.
    pub metadata_location: String,
    /// The snapshot it was asked for; `None`: the metadata file's current snapshot.
    pub snapshot_id: Option<i64>,
    /// `count(*)`, which DuckDB answers from the manifests' record counts.
    pub total_rows: u64,
    /// The rows it read per UTC hour of `timestamp` (`YYYY-MM-DD-HH`), in the form of
    /// [`crate::iceberg_read::rows_per_hour`].
    pub rows_per_hour: BTreeMap<String, usize>,
    /// Per hour, the data files those rows came from.
    pub files_per_hour: BTreeMap<String, BTreeSet<String>>,
    /// The order-independent digest of every row, computed as `scripts/pyiceberg_read.py`'s
    /// `rows_sha256`; only from [`duckdb_scans_hashed`].
    pub rows_sha256: Option<String>,
}

impl DuckScan {
    /// The sum of [`DuckScan::rows_per_hour`]: the rows DuckDB read, counted one by one.
    pub fn rows_read(&self) -> u64 {
        self.rows_per_hour.values().map(|&n| n as u64).sum()
    }

    /// The data files rows of `hour` came from (none when it has no rows).
    pub fn files_of(&self, hour: &str) -> BTreeSet<String> {
        self.files_per_hour.get(hour).cloned().unwrap_or_default()
    }
}

/// Reads `metadata_location` (a table's current metadata file, e.g. the catalog's
/// `metadata_location` or [`PyTableByHour::metadata_location`]) with DuckDB, at `snapshot_id`
/// or, when `None`, at the file's current snapshot. Works on `env`'s local or S3 warehouse.
///
/// Call [`require_python`] first so a run without Python skips rather than fails here.
///
/// [`PyTableByHour::metadata_location`]: crate::pyiceberg_hours::PyTableByHour::metadata_location
#[track_caller]
pub fn duckdb_scan(env: &TestEnv, metadata_location: &str, snapshot_id: Option<i64>) -> DuckScan {
    let mut scans = duckdb_scans(env, &[(metadata_location, snapshot_id)]);
    scans.pop().expect("one scan asked, one returned")
}

/// [`duckdb_scan`] for each `(metadata_location, snapshot_id)`, in one DuckDB process (it
/// starts in about half a second), returned in the order given.
#[track_caller]
pub fn duckdb_scans(env: &TestEnv, scans: &[(&str, Option<i64>)]) -> Vec<DuckScan> {
    run_scans(env, scans, false)
}

/// [`duckdb_scans`] that also reads every row and digests it ([`DuckScan::rows_sha256`]), to
/// compare with pyiceberg's `rows_sha256`.
#[track_caller]
pub fn duckdb_scans_hashed(env: &TestEnv, scans: &[(&str, Option<i64>)]) -> Vec<DuckScan> {
    run_scans(env, scans, true)
}

#[track_caller]
fn run_scans(env: &TestEnv, scans: &[(&str, Option<i64>)], rows_hash: bool) -> Vec<DuckScan> {
    let python = require_python()
        .expect("DuckDB runs in the test venv: gate the test with require_python() first");
    let mut cmd = Command::new(&python);
    cmd.arg(workspace_root().join(SCRIPT));
    for (location, snapshot_id) in scans {
        cmd.args(["--scan", location]);
        if let Some(id) = snapshot_id {
            cmd.arg(id.to_string());
        }
    }
    if rows_hash {
        cmd.arg("--rows-hash");
    }
    if let Some(s3) = env.s3() {
        cmd.args(["--s3-endpoint", &s3.endpoint, "--s3-region", &s3.region])
            .env("AWS_ACCESS_KEY_ID", &s3.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &s3.secret_access_key);
    }
    let doc = json_of(cmd, SCRIPT, env);
    let read = doc["scans"].as_array().unwrap_or_else(|| panic!("no scans in {doc}"));
    assert_eq!(read.len(), scans.len(), "{SCRIPT}: one scan per --scan: {doc}");
    read.iter()
        .zip(scans)
        .map(|(scan, &(location, snapshot_id))| {
            let scan = parse(scan).unwrap_or_else(|e| panic!("{SCRIPT}: {e}"));
            let asked = (location, snapshot_id);
            assert_eq!((scan.metadata_location.as_str(), scan.snapshot_id), asked, "{doc}");
            scan
        })
        .collect()
}

fn parse(scan: &Value) -> Result<DuckScan, String> {
    let object = |key: &str| {
        scan[key].as_object().cloned().ok_or_else(|| format!("no object {key} in {scan}"))
    };
    let mut rows_per_hour = BTreeMap::new();
    for (hour, rows) in object("rows_per_hour")? {
        let rows = rows.as_u64().ok_or_else(|| format!("rows of {hour}: {rows}"))?;
        rows_per_hour.insert(hour, rows as usize);
    }
    let mut files_per_hour = BTreeMap::new();
    for (hour, paths) in object("files_per_hour")? {
        let paths = paths.as_array().ok_or_else(|| format!("files of {hour}: {paths}"))?;
        let paths = paths.iter().filter_map(|p| p.as_str().map(String::from)).collect();
        files_per_hour.insert(hour, paths);
    }
    Ok(DuckScan {
        metadata_location: scan["metadata_location"]
            .as_str()
            .ok_or_else(|| format!("no metadata_location in {scan}"))?
            .to_string(),
        snapshot_id: scan["snapshot_id"].as_i64(),
        total_rows: scan["total_rows"].as_u64().ok_or_else(|| format!("no total_rows: {scan}"))?,
        rows_per_hour,
        files_per_hour,
        rows_sha256: scan["rows_sha256"].as_str().map(String::from),
    })
}
