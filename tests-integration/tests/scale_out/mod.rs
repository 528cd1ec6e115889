//! Several compactor instances on one catalog, sharing the tables through leases in the
//! catalog database: real `compactor run` daemons and one-shot commands, a real continuous
//! writer, checked through the run history (who worked on what, when), the lease table, the
//! logs and pyiceberg.

mod fleet;
mod takeover;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::TableKind;
use common::tables::TableId;
use compactor::JobKind;
use compactor::{Holder, RunRecord, StateStore};
use futures::TryStreamExt;
use iceberg::Catalog;
use tests_integration::{BinChild, BinCommand, TestEnv};

const COMPACTOR: &str = "compactor";
const LOADGEN: &str = "signaldb-loadgen";
/// End of the back-dated data: long past, so every hour of it is quiet.
const END_TIME: &str = "2026-01-15T12:00:00Z";

/// Writes `tenants` x `prod` x every signal, `hours` back-dated hours of `files` files of
/// `rows` rows each, and returns the tables.
fn load(env: &TestEnv, tenants: &[&str], hours: u64, files: u64, rows: u64) -> Vec<TableId> {
    let out = BinCommand::new(LOADGEN)
        .config_flag(env)
        .args(["--tenants", &tenants.join(","), "--datasets", "prod"])
        .args(["--signals", "traces,logs,metrics", "--hours", &hours.to_string()])
        .args(["--files-per-hour", &files.to_string(), "--rows-per-file", &rows.to_string()])
        .args(["--seed", "13", "--end-time", END_TIME, "--json"])
        .test_env(env)
        .run();
    out.assert_success();
    let ids: Vec<TableId> = tenants
        .iter()
        .flat_map(|t| TableKind::SIGNAL_NAMED.map(|s| TableId::new(t, "prod", s).unwrap()))
        .collect();
    assert_eq!(out.json()["total_files"], ids.len() as u64 * hours * files, "{}", out.stdout);
    ids
}

/// A `compactor` command against `env` logging at `info`, with `config` appended to its
/// environment as `SIGNALDB_COMPACTOR_*` variables.
fn compactor(env: &TestEnv, vars: &[(&str, &str)]) -> BinCommand {
    let mut command = BinCommand::new(COMPACTOR).test_env(env).env("RUST_LOG", "info");
    for (key, value) in vars {
        command = command.env(&format!("SIGNALDB_COMPACTOR_{key}"), value);
    }
    command
}

/// Live data files of table `id` per back-dated hour label (`hour=` directory of each path),
/// planned with iceberg-rust.
async fn files_per_hour(env: &TestEnv, id: &TableId) -> BTreeMap<String, usize> {
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let scan = table.scan().build().unwrap();
    let tasks: Vec<_> = scan.plan_files().await.unwrap().try_collect().await.unwrap();
    let mut out = BTreeMap::new();
    for task in tasks {
        let hour = task.data_file_path.split("/hour=").nth(1).and_then(|r| r.split('/').next());
        *out.entry(hour.unwrap_or("?").to_string()).or_default() += 1;
    }
    out
}

/// Waits (up to `timeout`) until every hour of `hours` in every table of `ids` holds exactly
/// one live data file; the first table that does not, otherwise.
async fn compacted(
    env: &TestEnv,
    ids: &[TableId],
    hours: &[String],
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    for id in ids {
        loop {
            let files = files_per_hour(env, id).await;
            if hours.iter().all(|h| files.get(h) == Some(&1)) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{id} not compacted within {timeout:?}: {files:?}"));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

/// [`compacted`], failing the test with `children`'s warnings and errors when it times out.
async fn wait_compacted(
    env: &TestEnv,
    ids: &[TableId],
    hours: &[String],
    timeout: Duration,
    children: &mut Vec<BinChild>,
) {
    if let Err(e) = compacted(env, ids, hours, timeout).await {
        let mut logs = String::new();
        for child in children.drain(..) {
            child.signal("KILL");
            let out = child.wait();
            let lines = out.stderr.lines().filter(|l| l.contains("WARN") || l.contains("ERROR"));
            let last: Vec<&str> = lines.collect::<Vec<_>>().into_iter().rev().take(20).collect();
            logs.push_str(&format!("--- {}\n{}\n", out.command, last.join("\n")));
        }
        panic!("{e}\n{logs}");
    }
}

/// Every compaction, retention and orphan-cleanup run the history holds for `id`.
async fn history(env: &TestEnv, id: &TableId) -> Vec<RunRecord> {
    let catalog = env.catalog().await;
    let history = StateStore::open(&catalog).await.unwrap().runs();
    let mut runs = Vec::new();
    for job in JobKind::ALL {
        runs.extend(history.runs(id, job, 10_000).await.unwrap());
    }
    runs
}

/// Fails when two runs of `runs` (one table's history) overlap in time: two instances, or two
/// jobs, worked on the table at once.
#[track_caller]
fn assert_one_at_a_time(id: &TableId, runs: &[RunRecord]) {
    let mut sorted: Vec<&RunRecord> = runs.iter().collect();
    sorted.sort_by_key(|r| r.started_at);
    for pair in sorted.windows(2) {
        assert!(
            pair[1].started_at >= pair[0].finished_at,
            "{id}: {} ({}) started at {} while {} ({}) ran until {}",
            pair[1].instance,
            pair[1].job,
            pair[1].started_at,
            pair[0].instance,
            pair[0].job,
            pair[0].finished_at
        );
    }
}

/// The live leases of `env`'s catalog now.
async fn holders(env: &TestEnv) -> Vec<Holder> {
    let catalog = env.catalog().await;
    StateStore::open(&catalog).await.unwrap().leases().holders().await.unwrap()
}
