//! A warehouse laid out exactly as SignalDB's own writer lays it out (`src/signaldb_layout.py`,
//! written with pyiceberg): the compactor's input as it meets it in production.
//!
//! Per `[tenant, dataset]` namespace, the eight tables of [`TableKind::SIGNALDB`] at
//! `{warehouse}/{tenant}/{dataset}/{table}`, format v2, with SignalDB's columns, types, required
//! flags and field ids (top-level columns 1..N, then the key and value of each map column),
//! partition spec 0 with the one field [`PARTITION_FIELD`] = `hour(timestamp)` (partition field
//! id 1000 + `timestamp`'s id), sort order 1, and SignalDB's table properties:
//! `write.metadata.*`, ZSTD level 1, the `trace_id` bloom-filter flag, `signaldb.schema.version`
//! (traces, logs), `signaldb.wal.committed.writer-<n>` markers (committed with the appends, as
//! the writer does) and `signaldb.hot.retention-hours=24`.
//!
//! Every table gets `appends_per_hour` appends (one commit and one small Parquet file each) in
//! every hour. `traces` is created at schema `physical-v2` and evolved in place to `physical-v3`
//! ([`TRACES_V3_ADDED_COLUMNS`], field ids after the map ids) once the first half of every
//! hour's appends is written, so each hour of traces holds files of two schemas.
//!
//! Writing into `hour()` partitions with pyiceberg needs the `pyiceberg-core` package of the test
//! venv (`scripts/requirements-test.txt`). Gate a test with
//! [`require_python`](crate::require::require_python) as for every pyiceberg fixture.

use std::ops::RangeInclusive;

use common::TableKind;
use serde_json::Value;

use crate::env::TestEnv;
use crate::pyiceberg::run_pyiceberg_script_with;

/// The script, relative to the workspace root.
const SCRIPT: &str = "tests-integration/src/signaldb_layout.py";

/// The name of the one partition field of every SignalDB table: `hour(timestamp)`.
pub const PARTITION_FIELD: &str = "timestamp_hour";

/// The columns `traces` gained from `physical-v2` to `physical-v3`, in the order they were
/// added (optional; in the fixture, after the first half of every hour's appends).
pub const TRACES_V3_ADDED_COLUMNS: [&str; 5] = [
    "span_kind_number",
    "status_code_number",
    "dropped_attributes_count",
    "dropped_events_count",
    "dropped_links_count",
];

/// `tenant.dataset.table` of every SignalDB table of every `tenants` × `datasets` namespace:
/// the keys of the fixture's `tables` object and what the pyiceberg readers take.
pub fn signaldb_table_idents(tenants: &[&str], datasets: &[&str]) -> Vec<String> {
    let mut idents = Vec::with_capacity(tenants.len() * datasets.len() * TableKind::SIGNALDB.len());
    for tenant in tenants {
        for dataset in datasets {
            for table in TableKind::SIGNALDB {
                idents.push(format!("{tenant}.{dataset}.{table}"));
            }
        }
    }
    idents
}

/// What to write: namespaces, hours and how much (see [`write_signaldb_warehouse`] for the
/// common case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalDbLayout {
    /// Tenant slugs (first namespace level).
    pub tenants: Vec<String>,
    /// Dataset slugs (second namespace level); every tenant gets every dataset.
    pub datasets: Vec<String>,
    /// The hours written, in hours since the epoch (UTC), both ends included.
    pub hours: RangeInclusive<i64>,
    /// Appends (commits, one data file each) per hour and table; at least 2 while `traces` is
    /// evolved half-way.
    pub appends_per_hour: u32,
    /// Rows per append.
    pub rows_per_append: u32,
    /// Seed of the row contents: the same seed and shape write the same rows.
    pub seed: u64,
    /// Only these of [`TableKind::SIGNALDB`]; empty: all eight.
    pub tables: Vec<String>,
    /// Create `traces` at `physical-v3` (no evolution, the reference's ids 26..30 for the v3
    /// columns) instead of at `physical-v2` with the evolution half-way.
    pub traces_created_at_v3: bool,
    /// After the appends, move every table to `day(timestamp)` partitions named
    /// `timestamp_day` (a new partition spec) and append two more files per hour into them.
    pub evolve_spec_to_day: bool,
}

impl SignalDbLayout {
    /// All eight tables of `tenants` × `datasets` over `hours`, traces evolved half-way.
    pub fn new(
        tenants: &[&str],
        datasets: &[&str],
        hours: RangeInclusive<i64>,
        appends_per_hour: u32,
        rows_per_append: u32,
        seed: u64,
    ) -> SignalDbLayout {
        SignalDbLayout {
            tenants: tenants.iter().map(ToString::to_string).collect(),
            datasets: datasets.iter().map(ToString::to_string).collect(),
            hours,
            appends_per_hour,
            rows_per_append,
            seed,
            tables: Vec::new(),
            traces_created_at_v3: false,
            evolve_spec_to_day: false,
        }
    }

    /// The script's arguments after the connection arguments.
    fn args(&self) -> Vec<String> {
        let (first, last) = (*self.hours.start(), *self.hours.end());
        assert!(first <= last, "no hours to write: {:?}", self.hours);
        assert!(!self.tenants.is_empty() && !self.datasets.is_empty(), "no namespace: {self:?}");
        let mut args = Vec::new();
        for tenant in &self.tenants {
            args.extend(["--tenant".to_string(), tenant.clone()]);
        }
        for dataset in &self.datasets {
            args.extend(["--dataset".to_string(), dataset.clone()]);
        }
        for table in &self.tables {
            args.extend(["--table".to_string(), table.clone()]);
        }
        args.extend([
            "--end-hour".to_string(),
            last.to_string(),
            "--hours".to_string(),
            (last - first + 1).to_string(),
            "--appends-per-hour".to_string(),
            self.appends_per_hour.to_string(),
            "--rows-per-append".to_string(),
            self.rows_per_append.to_string(),
            "--seed".to_string(),
            self.seed.to_string(),
        ]);
        if self.traces_created_at_v3 {
            args.extend(["--traces-created-at".to_string(), "physical-v3".to_string()]);
        }
        if self.evolve_spec_to_day {
            args.push("--evolve-spec-to-day".to_string());
        }
        args
    }

    /// Writes the layout into `env`'s catalog and warehouse (SQLite or PostgreSQL, local FS or
    /// S3) and returns the script's JSON document (see [`write_signaldb_warehouse`]).
    ///
    /// Panics, with the script's output, when a table already exists, when a write fails or
    /// when the tables' field ids, partition spec or sort order differ from SignalDB's.
    #[track_caller]
    pub fn write(&self, env: &TestEnv) -> Value {
        run_pyiceberg_script_with(env, SCRIPT, &[], &self.args())
    }
}

/// Writes SignalDB's eight tables for every `tenants` × `datasets` namespace into `env`:
/// `appends_per_hour` appends of `rows_per_append` rows in every hour of `hours` (hours since
/// the epoch, UTC, both ends included), row contents from `seed`, `traces` evolved from
/// `physical-v2` to `physical-v3` half-way through every hour's appends.
///
/// Returns the script's JSON document: `hours` (labels), `elapsed_seconds`, `notes` (what
/// pyiceberg does not honour, e.g. the bloom-filter property) and `tables`, keyed
/// `tenant.dataset.table` (see [`signaldb_table_idents`]), each with `rows`, `rows_per_hour`
/// (`YYYY-MM-DD-HH` → rows), `files`, `files_per_hour`, `files_per_schema` (schema id → files
/// written under it), `snapshots`, `metadata_location`, `location`, `properties` (after
/// writing), `schema_ids`, `current_schema_id`, `schema_versions` (`physical-vN` → schema id),
/// `field_ids` (column, or `map.key` / `map.value`, → id), `last_column_id`, `partition_spec`
/// and `sort_order` (the forms of `scripts/pyiceberg_read.py`).
///
/// Call [`require_python`](crate::require::require_python) first so a run without Python skips
/// rather than fails here.
#[track_caller]
pub fn write_signaldb_warehouse(
    env: &TestEnv,
    tenants: &[&str],
    datasets: &[&str],
    hours: RangeInclusive<i64>,
    appends_per_hour: u32,
    rows_per_append: u32,
    seed: u64,
) -> Value {
    SignalDbLayout::new(tenants, datasets, hours, appends_per_hour, rows_per_append, seed)
        .write(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idents_cover_every_table_of_every_namespace() {
        let idents = signaldb_table_idents(&["acme", "globex"], &["prod"]);
        assert_eq!(idents.len(), 16);
        assert_eq!(idents[0], "acme.prod.traces");
        assert_eq!(idents[15], "globex.prod.profiles");
    }

    #[test]
    fn hours_become_end_hour_and_count() {
        let layout = SignalDbLayout::new(&["acme"], &["prod"], 100..=103, 8, 50, 7);
        let args = layout.args().join(" ");
        assert!(args.contains("--end-hour 103 --hours 4 "), "{args}");
        assert!(args.contains("--appends-per-hour 8 --rows-per-append 50 --seed 7"), "{args}");
    }
}
