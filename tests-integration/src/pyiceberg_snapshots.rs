//! Reading a table snapshot by snapshot with pyiceberg (`src/pyiceberg_snapshots.py`): each
//! snapshot's rows read by its id (a count and an order-independent digest of the rows, streamed,
//! so that tables of millions of rows are cheap to compare), its summary, and every metadata file
//! the metadata log lists, each opened on its own.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::env::TestEnv;
use crate::pyiceberg::run_pyiceberg_script_with;

const SCRIPT: &str = "tests-integration/src/pyiceberg_snapshots.py";

/// One snapshot as pyiceberg reads it by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRows {
    /// Its id.
    pub snapshot_id: i64,
    /// Its parent's id.
    pub parent_id: Option<i64>,
    /// Its sequence number.
    pub sequence_number: i64,
    /// `append`, `replace`, `overwrite` or `delete`.
    pub operation: String,
    /// The summary's properties (`added-data-files`, `total-records`, …).
    pub summary: BTreeMap<String, String>,
    /// Rows it reads, unless only metadata was read.
    pub rows: Option<u64>,
    /// Order-independent digest of those rows, unless only metadata was read: the sum of a
    /// hash of each row, so the digest of a multiset of rows is the sum of its parts'.
    pub rows_digest: Option<i128>,
}

impl SnapshotRows {
    /// Summary property `key` as a number (fails the test when absent or not a number).
    #[track_caller]
    pub fn count(&self, key: &str) -> i64 {
        let value = self.summary.get(key).unwrap_or_else(|| panic!("no {key} in {self:?}"));
        value.parse().unwrap_or_else(|e| panic!("{key} = {value}: {e}"))
    }
}

/// One entry of a table's metadata log, whose file pyiceberg opened on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The metadata file.
    pub metadata_file: String,
    /// When it was written.
    pub timestamp_ms: i64,
    /// The snapshots that file holds.
    pub snapshot_ids: Vec<i64>,
}

/// A table's metadata and snapshots as pyiceberg reads them.
#[derive(Debug, Clone)]
pub struct TableSnapshots {
    /// The metadata file the catalog points at.
    pub metadata_location: String,
    /// The table properties.
    pub properties: BTreeMap<String, String>,
    /// The metadata log, oldest first.
    pub metadata_log: Vec<LogEntry>,
    /// Every snapshot, by sequence number.
    pub snapshots: Vec<SnapshotRows>,
}

impl TableSnapshots {
    /// The snapshot `id` (fails the test when the table has none).
    #[track_caller]
    pub fn snapshot(&self, id: i64) -> &SnapshotRows {
        self.snapshots
            .iter()
            .find(|s| s.snapshot_id == id)
            .unwrap_or_else(|| panic!("no snapshot {id} in {:?}", self.snapshots))
    }

    /// The current metadata file and every file of the metadata log.
    pub fn live_metadata_files(&self) -> Vec<String> {
        let mut files: Vec<String> =
            self.metadata_log.iter().map(|e| e.metadata_file.clone()).collect();
        files.push(self.metadata_location.clone());
        files
    }
}

/// Reads tables `idents` (`tenant.dataset.table`, all existing) of `env` with pyiceberg, keyed
/// as given: every snapshot, the metadata log (every file opened) and the rows of the snapshots
/// `rows_of` (of every snapshot when `None`), each read by its id.
///
/// Call [`require_python`](crate::require::require_python) first so a run without Python skips
/// rather than fails here.
#[track_caller]
pub fn read_tables(
    env: &TestEnv,
    idents: &[String],
    rows_of: Option<&[i64]>,
) -> BTreeMap<String, TableSnapshots> {
    let args: Vec<String> = match rows_of {
        None => Vec::new(),
        Some([]) => vec!["--no-rows".to_string()],
        Some(ids) => ids.iter().flat_map(|id| ["--rows-of".to_string(), id.to_string()]).collect(),
    };
    let doc = run_pyiceberg_script_with(env, SCRIPT, idents, &args);
    let read = |ident: &String| {
        let table = &doc["tables"][ident];
        assert_eq!(table["exists"], true, "pyiceberg finds no table {ident}: {doc}");
        parse(table).unwrap_or_else(|e| panic!("{ident}: {e}\n{doc}"))
    };
    idents.iter().map(|ident| (ident.clone(), read(ident))).collect()
}

/// [`read_tables`] of one table, with the rows of `rows_of` (of every snapshot when `None`).
#[track_caller]
pub fn read_snapshots(env: &TestEnv, ident: &str, rows_of: Option<&[i64]>) -> TableSnapshots {
    let idents = [ident.to_string()];
    read_tables(env, &idents, rows_of).remove(ident).expect("the table asked for")
}

fn parse(table: &Value) -> Result<TableSnapshots, String> {
    let text = |v: &Value, key: &str| {
        v[key].as_str().map(String::from).ok_or_else(|| format!("no string {key} in {v}"))
    };
    let strings = |v: &Value| -> Result<BTreeMap<String, String>, String> {
        let map = v.as_object().ok_or_else(|| format!("not an object: {v}"))?;
        let pairs = map.iter().map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())));
        pairs.collect::<Option<_>>().ok_or_else(|| format!("not all strings: {v}"))
    };
    let list = |key: &str| table[key].as_array().ok_or_else(|| format!("no list {key}"));
    let mut metadata_log = Vec::new();
    for e in list("metadata_log")? {
        let ids = e["snapshot_ids"].as_array().ok_or_else(|| format!("snapshot ids of {e}"))?;
        metadata_log.push(LogEntry {
            metadata_file: text(e, "metadata_file")?,
            timestamp_ms: e["timestamp_ms"].as_i64().ok_or_else(|| format!("time of {e}"))?,
            snapshot_ids: ids.iter().filter_map(Value::as_i64).collect(),
        });
    }
    let mut snapshots = Vec::new();
    for s in list("snapshots")? {
        snapshots.push(SnapshotRows {
            snapshot_id: s["snapshot_id"].as_i64().ok_or_else(|| format!("id of {s}"))?,
            parent_id: s["parent_id"].as_i64(),
            sequence_number: s["sequence_number"].as_i64().ok_or_else(|| format!("seq {s}"))?,
            operation: text(s, "operation")?,
            summary: strings(&s["summary"])?,
            rows: s["rows"].as_u64(),
            rows_digest: match s["rows_digest"].as_str() {
                Some(digest) => Some(digest.parse().map_err(|e| format!("digest {digest}: {e}"))?),
                None => None,
            },
        });
    }
    Ok(TableSnapshots {
        metadata_location: text(table, "metadata_location")?,
        properties: strings(&table["properties"])?,
        metadata_log,
        snapshots,
    })
}
