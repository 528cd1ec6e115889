//! Reading tables with pyiceberg per `hour` partition (`src/pyiceberg_hours.py`): the rows and
//! their digest in each hour, the live data files of each partition and the snapshot history.
//! What a job that rewrites or drops partitions must keep (or change) is checked hour by hour.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::env::TestEnv;
use crate::pyiceberg::run_pyiceberg_script;

/// The rows of one hour (by the `timestamp` column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourContent {
    /// How many rows.
    pub rows: u64,
    /// Order-independent digest of their contents (`rows_sha256` of `scripts/pyiceberg_read.py`).
    pub rows_sha256: String,
}

/// One snapshot of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PySnapshot {
    /// Its id.
    pub snapshot_id: i64,
    /// Its parent's id.
    pub parent_id: Option<i64>,
    /// Its sequence number.
    pub sequence_number: i64,
    /// `append`, `replace`, `overwrite` or `delete`.
    pub operation: String,
}

/// One table as pyiceberg reads it.
#[derive(Debug, Clone)]
pub struct PyTableByHour {
    /// What `scripts/pyiceberg_read.py` reports for it (`total_rows`, `rows_per_hour`,
    /// `rows_sha256`, `live_data_files`, `data_files`, `snapshot_count`, `metadata_location`, …).
    pub read: Value,
    /// Rows per hour (`YYYY-MM-DD-HH`).
    pub content: BTreeMap<String, HourContent>,
    /// Live data files per hour partition.
    pub files: BTreeMap<String, BTreeSet<String>>,
    /// Every snapshot, oldest first.
    pub snapshots: Vec<PySnapshot>,
}

impl PyTableByHour {
    /// The live data files of partition `hour` (none when it has none).
    pub fn files_of(&self, hour: &str) -> BTreeSet<String> {
        self.files.get(hour).cloned().unwrap_or_default()
    }

    /// Rows per hour, in the form of [`crate::iceberg_read::rows_per_hour`].
    pub fn rows_per_hour(&self) -> BTreeMap<String, usize> {
        self.content.iter().map(|(hour, c)| (hour.clone(), c.rows as usize)).collect()
    }

    /// Total rows.
    pub fn total_rows(&self) -> u64 {
        self.content.values().map(|c| c.rows).sum()
    }

    /// The metadata file the catalog points at.
    pub fn metadata_location(&self) -> &str {
        self.read["metadata_location"].as_str().unwrap_or_default()
    }
}

/// Reads `tables` (`tenant.dataset.table`, all existing) of `env` with pyiceberg, keyed as given.
///
/// Call [`require_python`](crate::require::require_python) first so a run without Python skips rather than fails here.
#[track_caller]
pub fn read_by_hour<T: ToString>(env: &TestEnv, tables: &[T]) -> BTreeMap<String, PyTableByHour> {
    let idents: Vec<String> = tables.iter().map(ToString::to_string).collect();
    let doc = run_pyiceberg_script(env, "tests-integration/src/pyiceberg_hours.py", &idents);
    idents
        .into_iter()
        .map(|ident| {
            let read = doc["tables"][&ident].clone();
            assert_eq!(read["exists"], true, "pyiceberg finds no table {ident}: {read}");
            let table = parse(read).unwrap_or_else(|e| panic!("{ident}: {e}"));
            (ident, table)
        })
        .collect()
}

fn parse(read: Value) -> Result<PyTableByHour, String> {
    let object = |key: &str| {
        read[key].as_object().cloned().ok_or_else(|| format!("no object {key} in {read}"))
    };
    let mut content = BTreeMap::new();
    for (hour, c) in object("hours")? {
        let rows = c["rows"].as_u64().ok_or_else(|| format!("rows of {hour}: {c}"))?;
        let digest = c["rows_sha256"].as_str().ok_or_else(|| format!("digest of {hour}: {c}"))?;
        content.insert(hour, HourContent { rows, rows_sha256: digest.to_string() });
    }
    let mut files = BTreeMap::new();
    for (hour, paths) in object("files_per_hour")? {
        let paths = paths.as_array().ok_or_else(|| format!("files of {hour}: {paths}"))?;
        let paths = paths.iter().filter_map(|p| p.as_str().map(String::from)).collect();
        files.insert(hour, paths);
    }
    let snapshot = |s: &Value| {
        Some(PySnapshot {
            snapshot_id: s["snapshot_id"].as_i64()?,
            parent_id: s["parent_id"].as_i64(),
            sequence_number: s["sequence_number"].as_i64()?,
            operation: s["operation"].as_str()?.to_string(),
        })
    };
    let snapshots = read["snapshots"]
        .as_array()
        .ok_or_else(|| format!("no snapshots in {read}"))?
        .iter()
        .map(|s| snapshot(s).ok_or_else(|| format!("snapshot {s}")))
        .collect::<Result<_, _>>()?;
    Ok(PyTableByHour { read, content, files, snapshots })
}
