//! What the compactor's jobs do to real tables, through the real `compactor` and
//! `signaldb-loadgen` binaries, checked by reading the tables back with pyiceberg (an Iceberg
//! implementation that is not ours) and with iceberg-rust.

mod batch_commit;
mod compaction;
mod fair_share;
mod file_sizes;
mod foreign_tables;
mod idle_tables;
mod lifecycle;
mod manifest_merge;
mod metadata_log;
mod orphan_cleanup;
mod partition_drop;
mod read_optimised;
mod requests;
mod retention_cutoff;
mod signaldb_layout;
mod snapshot_expiration;
mod sorted_output;
mod spark_deletes;
mod spark_reads;
mod status;
mod warning_signs;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::TableKind;
use common::partition::PartitionDirectory;
use common::tables::TableId;
use futures::TryStreamExt;
use iceberg::Catalog;
use serde_json::Value;
use tests_integration::iceberg_read::list_locations;
use tests_integration::pyiceberg_hours::PyTableByHour;
use tests_integration::tcp_proxy::{Cut, TcpProxy};
use tests_integration::{BinChild, BinCommand, BinOutput, TestEnv, hours_ending_at};

pub const COMPACTOR: &str = "compactor";
pub const LOADGEN: &str = "signaldb-loadgen";
/// End of the back-dated data: long past, so every hour of it is quiet.
pub const END_TIME: &str = "2026-01-15T12:00:00Z";
pub const TENANT: &str = "acme";
pub const DATASET: &str = "prod";

/// A back-dated `signaldb-loadgen` run into `acme.prod.<signal>`, one snapshot per table and
/// hour, ending with the hour of [`END_TIME`].
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub signals: &'static [TableKind],
    pub hours: u64,
    pub files_per_hour: u64,
    pub rows_per_file: u64,
}

impl Load {
    /// The tables it writes, in the order of compaction reports.
    pub fn tables(&self) -> Vec<TableId> {
        let mut signals = self.signals.to_vec();
        signals.sort();
        signals.into_iter().map(|s| TableId::new(TENANT, DATASET, s).unwrap()).collect()
    }

    /// The hours it fills (`YYYY-MM-DD-HH`), oldest first.
    pub fn hour_labels(&self) -> Vec<String> {
        hours_ending_at(END_TIME.parse().unwrap(), self.hours as i64)
    }

    /// Rows of each table.
    pub fn rows_per_table(&self) -> u64 {
        self.hours * self.files_per_hour * self.rows_per_file
    }

    /// Runs the load generator against `env`, checks its summary and returns the tables.
    #[track_caller]
    pub fn run(&self, env: &TestEnv) -> Vec<TableId> {
        self.run_ending_at(env, END_TIME, 42)
    }

    /// [`Load::run`] with the hours ending with the hour of `end_time` (RFC 3339), and `seed`.
    #[track_caller]
    pub fn run_ending_at(&self, env: &TestEnv, end_time: &str, seed: u64) -> Vec<TableId> {
        let signals: Vec<&str> = self.signals.iter().map(|s| s.as_str()).collect();
        let out = BinCommand::new(LOADGEN)
            .config_flag(env)
            .args(["--tenants", TENANT, "--datasets", DATASET, "--signals", &signals.join(",")])
            .args(["--hours", &self.hours.to_string()])
            .args(["--files-per-hour", &self.files_per_hour.to_string()])
            .args(["--rows-per-file", &self.rows_per_file.to_string()])
            .args(["--seed", &seed.to_string(), "--end-time", end_time, "--json"])
            .test_env(env)
            .run();
        out.assert_success();
        let summary = out.json();
        let tables = self.tables();
        let files = tables.len() as u64 * self.hours * self.files_per_hour;
        assert_eq!(summary["total_files"], files, "{summary}");
        assert_eq!(summary["total_rows"], tables.len() as u64 * self.rows_per_table(), "{summary}");
        tables
    }
}

/// Runs `compactor args…` against `env`, logging at `info` whatever `RUST_LOG` the shell has.
pub fn compactor(env: &TestEnv, args: &[&str]) -> BinOutput {
    BinCommand::new(COMPACTOR).args(args).test_env(env).env("RUST_LOG", "info").run()
}

/// `compactor compact --json` with its catalog (PostgreSQL on `pg_port`) behind a proxy that
/// holds back the pass's first compare-and-swap; returns once the swap is held, so that another
/// engine can commit before [`TcpProxy::release`] lets it through.
pub fn compact_with_held_swap(env: &TestEnv, pg_port: u16) -> (TcpProxy, BinChild) {
    let proxy = TcpProxy::start(pg_port);
    proxy.arm(Cut::Hold, "UPDATE iceberg_tables");
    let mut uri = url::Url::parse(env.catalog_uri()).unwrap();
    uri.set_port(Some(proxy.port())).unwrap();
    let pass = BinCommand::new(COMPACTOR)
        .args(["compact", "--json"])
        .test_env(env)
        .env("RUST_LOG", "info")
        .env("SIGNALDB_SCHEMA_CATALOG_URI", uri.as_str())
        .timeout(Duration::from_secs(300))
        .spawn();
    let waited = Instant::now();
    while proxy.cuts().is_empty() {
        assert!(waited.elapsed() < Duration::from_secs(120), "the pass never committed");
        std::thread::sleep(Duration::from_millis(50));
    }
    (proxy, pass)
}

/// The `--json` document of a run that must succeed with no failure.
#[track_caller]
pub fn json_ok(out: &BinOutput) -> Value {
    out.assert_success();
    let doc = out.json();
    assert_eq!(doc["failures"], 0, "{doc}\n{}", out.stderr);
    doc
}

/// The entry of table `id` in the first report of a `--json` document.
#[track_caller]
pub fn table_entry<'a>(doc: &'a Value, id: &TableId) -> &'a Value {
    entry_of(&doc["reports"][0]["tables"], id)
}

/// The entry of table `id` (its `tenant`, `dataset` and `table`) in the array `tables`.
#[track_caller]
pub fn entry_of<'a>(tables: &'a Value, id: &TableId) -> &'a Value {
    tables
        .as_array()
        .unwrap_or_else(|| panic!("no tables in {tables}"))
        .iter()
        .find(|t| {
            t["tenant"] == id.tenant.as_str()
                && t["dataset"] == id.dataset.as_str()
                && t["table"] == id.table.as_str()
        })
        .unwrap_or_else(|| panic!("{id} is not in {tables}"))
}

/// A candidate partition of a plan (`details.candidates[]`).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub hour: i64,
    pub label: String,
    pub files_after: usize,
    /// The input files of each group.
    pub groups: Vec<Vec<String>>,
}

/// The candidates of a table's plan, oldest first.
#[track_caller]
pub fn candidates(details: &Value) -> Vec<Candidate> {
    let list = details["candidates"].as_array().unwrap_or_else(|| panic!("no plan: {details}"));
    list.iter()
        .map(|c| Candidate {
            hour: c["hour"].as_i64().unwrap(),
            label: c["hour_label"].as_str().unwrap().to_string(),
            files_after: c["files_after"].as_u64().unwrap() as usize,
            groups: c["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    let files = g["files"].as_array().unwrap();
                    files.iter().map(|f| f.as_str().unwrap().to_string()).collect()
                })
                .collect(),
        })
        .collect()
}

/// What executing one group did (`details.execution.groups[]`).
#[derive(Debug, Clone)]
pub struct Executed {
    pub hour: i64,
    pub label: String,
    pub files_in: usize,
    pub files_out: usize,
    /// Rows of the inputs, bytes of the inputs and bytes written.
    pub rows: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// `committed`, `abandoned` or `unknown`.
    pub status: String,
    /// Why an abandoned group was given up: a stable kind and a message.
    pub kind: String,
    pub reason: String,
    pub snapshot_id: Option<i64>,
}

impl Executed {
    pub fn committed(&self) -> bool {
        self.status == "committed"
    }
}

/// The executed groups of a table's report (none when nothing was executed).
#[track_caller]
pub fn executed(details: &Value) -> Vec<Executed> {
    let Some(groups) = details["execution"]["groups"].as_array() else { return Vec::new() };
    let text = |g: &Value, key: &str| g[key].as_str().unwrap_or_default().to_string();
    groups
        .iter()
        .map(|g| Executed {
            hour: g["hour"].as_i64().unwrap(),
            label: text(g, "hour_label"),
            files_in: g["files_in"].as_u64().unwrap() as usize,
            files_out: g["files_out"].as_u64().unwrap() as usize,
            rows: g["rows"].as_u64().unwrap(),
            bytes_in: g["bytes_in"].as_u64().unwrap(),
            bytes_out: g["bytes_out"].as_u64().unwrap(),
            status: text(g, "status"),
            kind: text(g, "kind"),
            reason: text(g, "reason"),
            snapshot_id: g["snapshot_id"].as_i64(),
        })
        .collect()
}

/// The name of the file at `location`.
pub fn file_name(location: &str) -> &str {
    location.rsplit('/').next().unwrap_or(location)
}

/// The files compaction wrote that are still in `hour`'s directory of table `id`, listed
/// through the object store.
pub async fn compacted_on_storage(env: &TestEnv, id: &TableId, hour: i64) -> BTreeSet<String> {
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let dir = PartitionDirectory::hour(table.metadata().location(), hour);
    let listed = list_locations(catalog.warehouse(), dir.dir()).await.unwrap();
    listed.into_iter().filter(|l| file_name(l).starts_with("compacted-")).collect()
}

/// Checks that the snapshots form one line, each the parent of the next: no commit was lost
/// or forked off.
#[track_caller]
pub fn assert_linear_history(key: &str, table: &PyTableByHour) {
    for pair in table.snapshots.windows(2) {
        assert_eq!(pair[1].parent_id, Some(pair[0].snapshot_id), "{key}: {:?}", table.snapshots);
    }
}

/// Waits until every table in `ids` has more than `snapshots[id]` snapshots.
pub async fn wait_for_appends(env: &TestEnv, ids: &[TableId], snapshots: &BTreeMap<String, usize>) {
    let catalog = env.catalog().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in ids {
        loop {
            let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
            if table.metadata().snapshots().count() > snapshots[&id.to_string()] {
                break;
            }
            assert!(Instant::now() < deadline, "the writer appended nothing to {id} in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Sizes of the live data files of table `id`, smallest first (planned with iceberg-rust).
pub async fn live_file_sizes(env: &TestEnv, id: &TableId) -> Vec<u64> {
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let scan = table.scan().build().unwrap();
    let tasks: Vec<_> = scan.plan_files().await.unwrap().try_collect().await.unwrap();
    let mut sizes: Vec<u64> = tasks.iter().map(|t| t.file_size_in_bytes).collect();
    sizes.sort_unstable();
    sizes
}
