//! How a compaction pass commits its groups: all of a table's groups in one `replace` snapshot
//! by default; every N finished groups with `groups_per_commit = N`, ceil(groups / N) snapshots,
//! each of which reads every row; and when another compaction and a writer commit while a pass
//! rewrites, the pass's batch is built on the table as it then is: the groups whose inputs
//! another commit removed are given up, reported as such, with their new files deleted, and the
//! others are committed. Each snapshot's summary (as pyiceberg reads it) counts exactly the
//! files, rows and bytes of its groups.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::TableKind;
use common::clock::{Clock, SystemClock};
use common::tables::TableId;
use compactor::ManifestCache;
use compactor::Scope;
use compactor::TableContext;
use compactor::execute_plan;
use compactor::{CompactionOutcome, CompactionSettings, CompactionStep};
use iceberg::Catalog;
use serde_json::Value;
use tests_integration::pyiceberg_hours::{PyTableByHour, read_by_hour};
use tests_integration::pyiceberg_snapshots::read_snapshots;
use tests_integration::{Backend, BinCommand, TestEnv, require_python};
use tokio_util::sync::CancellationToken;

use super::{
    COMPACTOR, DATASET, Executed, LOADGEN, Load, TENANT, assert_linear_history, candidates,
    compacted_on_storage, compactor, executed, file_name, json_ok, live_file_sizes, table_entry,
    wait_for_appends,
};

/// Five quiet hours of four files in `traces` and `logs`.
const LOAD: Load = Load {
    signals: &[TableKind::Traces, TableKind::Logs],
    hours: 5,
    files_per_hour: 4,
    rows_per_file: 150,
};

fn traces() -> TableId {
    TableId::new(TENANT, DATASET, TableKind::Traces).unwrap()
}

/// Runs [`LOAD`] and configures compaction so that every hour of `traces` packs into two
/// groups of two files: a target at least twice its largest file's expected output and below
/// three times its smallest's. Groups are packed by expected output bytes (input bytes times
/// the table's output ratio, which a plan measures on a sample of the inputs), so a first
/// plan at a provisional target reads the ratio and the target is then scaled by it. `logs`
/// is packed by the same target, into whatever groups its plan shows. Output is unsorted:
/// sorted output takes each hour as one group, and these tests need several.
async fn load_two_groups_per_hour(env: &TestEnv) -> Vec<TableId> {
    let ids = LOAD.run(env);
    let sizes = live_file_sizes(env, &traces()).await;
    let (min, max) = (sizes[0], sizes[sizes.len() - 1]);
    assert!(3 * min > 2 * max + 2, "traces files too unequal to pack in twos: {sizes:?}");
    let target = (3 * min + 2 * max) / 2;
    env.append_config(&format!(
        "[compactor]\nmin_input_files = 3\ntarget_file_size_bytes = {target}\n\
         small_file_threshold_bytes = {}\n[compactor.sort]\nenabled = false",
        (max + target) / 2
    ));
    let plan = json_ok(&compactor(env, &["plan", "--json"]));
    let ratio = &table_entry(&plan, &traces())["details"]["output_ratio"];
    assert_eq!(ratio["source"], "sample", "two groups at a ratio of 1 are sampled: {ratio}");
    let scaled = (target as f64 * ratio["ratio"].as_f64().unwrap()) as u64;
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    let line = format!("target_file_size_bytes = {target}\n");
    assert_eq!(config.matches(&line).count(), 1, "{config}");
    let config = config.replace(&line, &format!("target_file_size_bytes = {scaled}\n"));
    std::fs::write(env.config_path(), config).unwrap();
    ids
}

#[tokio::test]
async fn a_pass_commits_every_group_in_one_snapshot_on_sqlite_local() {
    a_pass_commits_every_group_in_one_snapshot(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn a_pass_commits_every_group_in_one_snapshot_on_postgres_s3() {
    a_pass_commits_every_group_in_one_snapshot(Backend::PostgresS3).await;
}

/// One pass over two tables of five candidate hours (ten groups in `traces`, two per hour)
/// adds exactly one `replace` snapshot per table, holding every group.
async fn a_pass_commits_every_group_in_one_snapshot(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    let ids = load_two_groups_per_hour(&env).await;
    let before = read_by_hour(&env, &ids);

    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    for id in &ids {
        let details = &table_entry(&doc, id)["details"];
        if *id == traces() {
            let plan = candidates(details);
            assert!(plan.iter().all(|c| c.groups.len() == 2), "{backend}: {details}");
        }
        assert_pass_committed(&env, id, details, 0, &before[&id.to_string()]).await;
    }
}

#[tokio::test]
async fn partial_progress_commits_every_n_groups_on_sqlite_local() {
    partial_progress_commits_every_n_groups(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn partial_progress_commits_every_n_groups_on_postgres_s3() {
    partial_progress_commits_every_n_groups(Backend::PostgresS3).await;
}

/// `SIGNALDB_COMPACTOR_GROUPS_PER_COMMIT=3` commits the ten groups of `traces` in four
/// snapshots (3, 3, 3 and 1 groups), `=1` commits every group of `logs` on its own; every
/// snapshot in between reads every row.
async fn partial_progress_commits_every_n_groups(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    let ids = load_two_groups_per_hour(&env).await;
    let before = read_by_hour(&env, &ids);

    for id in &ids {
        let per_commit = if id.table == TableKind::Traces { 3 } else { 1 };
        let out = BinCommand::new(COMPACTOR)
            .args(["compact", "--signal", id.table.as_str(), "--json"])
            .test_env(&env)
            .env("RUST_LOG", "info")
            .env("SIGNALDB_COMPACTOR_GROUPS_PER_COMMIT", &per_commit.to_string())
            .run();
        let doc = json_ok(&out);
        let details = &table_entry(&doc, id)["details"];
        let groups = executed(details).len();
        assert!(groups > per_commit, "{backend} {id}: {groups} group(s) for {per_commit}");
        assert_pass_committed(&env, id, details, per_commit, &before[&id.to_string()]).await;
    }
}

/// Checks what one pass over `id` committed, `per_commit` groups per snapshot (0: all of them):
/// every planned group committed; ceil(groups / per_commit) new `replace` snapshots on top of
/// `before`'s, in one line, the first ones of `per_commit` groups and the last of the rest;
/// each snapshot's summary counting exactly its groups' files, rows and bytes, and reading
/// (by its id, with pyiceberg) the rows the table held; the table holding them hour by hour in
/// the planned number of files, which are the only compacted files on storage.
async fn assert_pass_committed(
    env: &TestEnv,
    id: &TableId,
    details: &Value,
    per_commit: usize,
    before: &PyTableByHour,
) {
    let key = format!("{} {id}", env.backend());
    let plan = candidates(details);
    let groups = executed(details);
    assert!(!groups.is_empty(), "{key}: {details}");
    assert_eq!(groups.len(), plan.iter().map(|c| c.groups.len()).sum::<usize>(), "{key}");
    assert!(groups.iter().all(Executed::committed), "{key}: {groups:?}");
    assert_eq!(details["execution"]["groups_committed"], groups.len(), "{key}: {details}");

    // The groups of each snapshot, in commit order.
    let after = &read_by_hour(env, &[id])[&id.to_string()];
    assert_eq!(after.snapshots[..before.snapshots.len()], before.snapshots[..], "{key}");
    let new = &after.snapshots[before.snapshots.len()..];
    assert!(new.iter().all(|s| s.operation == "replace"), "{key}: {new:?}");
    assert_linear_history(&key, after);
    let mut by_snapshot: BTreeMap<i64, Vec<&Executed>> = BTreeMap::new();
    for g in &groups {
        by_snapshot.entry(g.snapshot_id.unwrap()).or_default().push(g);
    }
    let new_ids: Vec<i64> = new.iter().map(|s| s.snapshot_id).collect();
    let committed_ids: BTreeSet<i64> = by_snapshot.keys().copied().collect();
    assert_eq!(new_ids.iter().copied().collect::<BTreeSet<_>>(), committed_ids, "{key}");
    let sizes: Vec<usize> = new_ids.iter().map(|s| by_snapshot[s].len()).collect();
    let n = if per_commit == 0 { groups.len() } else { per_commit };
    let expected: Vec<usize> = groups.chunks(n).map(<[Executed]>::len).collect();
    assert_eq!(sizes, expected, "{key}: groups per snapshot, in commit order");

    // Each snapshot, read by id: its summary counts its groups, and it reads every row.
    let last_append = before.snapshots.last().unwrap().snapshot_id;
    let ids: Vec<i64> = std::iter::once(last_append).chain(new_ids.iter().copied()).collect();
    let read = read_snapshots(env, &id.to_string(), Some(&ids));
    let start = read.snapshot(last_append);
    let rows = before.total_rows();
    assert_eq!(start.rows, Some(rows), "{key}");
    let mut total_files = start.count("total-data-files");
    for snapshot_id in &new_ids {
        let s = read.snapshot(*snapshot_id);
        let of = &by_snapshot[snapshot_id];
        let sum = |f: fn(&Executed) -> u64| of.iter().map(|g| f(g)).sum::<u64>() as i64;
        let hours: BTreeSet<i64> = of.iter().map(|g| g.hour).collect();
        let (added, deleted) = (sum(|g| g.files_out as u64), sum(|g| g.files_in as u64));
        total_files += added - deleted;
        let counts = [
            ("added-data-files", added),
            ("deleted-data-files", deleted),
            ("added-records", sum(|g| g.rows)),
            ("deleted-records", sum(|g| g.rows)),
            ("added-files-size", sum(|g| g.bytes_out)),
            ("removed-files-size", sum(|g| g.bytes_in)),
            ("changed-partition-count", hours.len() as i64),
            ("total-data-files", total_files),
            ("total-records", rows as i64),
        ];
        for (field, value) in counts {
            assert_eq!(s.count(field), value, "{key}: {field} of {snapshot_id}: {s:?} {of:?}");
        }
        assert_eq!(s.rows, Some(rows), "{key}: rows of {snapshot_id}");
        assert_eq!(s.rows_digest, start.rows_digest, "{key}: the rows of {snapshot_id}");
    }

    // The same rows in every hour, in the planned files: the compacted ones and the inputs no
    // group took (a file packed alone rewrites nothing), and no other compacted file.
    assert_eq!(after.content, before.content, "{key}");
    for c in &plan {
        let live = after.files_of(&c.label);
        assert_eq!(live.len(), c.files_after, "{key} {}: {live:?}", c.label);
        let grouped: BTreeSet<&String> = c.groups.iter().flatten().collect();
        let (compacted, kept): (BTreeSet<String>, BTreeSet<String>) =
            live.iter().cloned().partition(|f| file_name(f).starts_with("compacted-"));
        let left: BTreeSet<String> =
            before.files_of(&c.label).into_iter().filter(|f| !grouped.contains(f)).collect();
        assert_eq!(kept, left, "{key} {}: {live:?}", c.label);
        assert_eq!(compacted_on_storage(env, id, c.hour).await, compacted, "{key} {}", c.label);
    }
}

/// Hours 09 and 10 of `traces` hold eight files, hours 11 and 12 four: a compaction with
/// `min_input_files = 6` takes only the first two, one with 3 all four.
fn load_for_the_race(env: &TestEnv) -> Load {
    let load =
        Load { signals: &[TableKind::Traces], hours: 4, files_per_hour: 4, rows_per_file: 100 };
    load.run(env);
    Load { hours: 2, ..load }.run_ending_at(env, "2026-01-15T10:30:00Z", 7);
    load
}

#[tokio::test]
async fn a_batch_commits_the_groups_whose_inputs_are_live_on_sqlite_local() {
    a_batch_commits_the_groups_whose_inputs_are_live(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn a_batch_commits_the_groups_whose_inputs_are_live_on_postgres_s3() {
    a_batch_commits_the_groups_whose_inputs_are_live(Backend::PostgresS3).await;
}

/// A pass plans four groups while `signaldb-loadgen --continuous` appends to the current hour;
/// before the pass commits, another `compactor compact` commits two of those hours. The
/// pass's one batch then commits the two groups whose inputs are still live, in one snapshot,
/// and gives up the two others as `files_no_longer_live`, deleting the files they wrote; no row
/// of any hour is lost or doubled.
///
/// The pass runs in this process (planned, then executed, with the compactor's own
/// `CompactionStep` and `execute`), so that the other compaction can commit between its plan
/// and its commit; its report is the `--json` form of its outcome.
async fn a_batch_commits_the_groups_whose_inputs_are_live(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config("[compactor]\nmin_input_files = 3");
    let load = load_for_the_race(&env);
    let id = traces();
    let key = format!("{backend} {id}");
    let hours = load.hour_labels();
    let before = read_by_hour(&env, &[&id]).remove(&id.to_string()).unwrap();
    assert_eq!(hours.iter().map(|h| before.files_of(h).len()).collect::<Vec<_>>(), [8, 8, 4, 4]);

    // One append a second: the commits below race with it, and rarely lose five times in a row.
    let mut writer = BinCommand::new(LOADGEN)
        .config_flag(&env)
        .args(["--tenants", TENANT, "--datasets", DATASET, "--signals", "traces"])
        .args(["--hours", "0", "--rows-per-file", "20", "--seed", "9"])
        .args(["--continuous", "--interval-ms", "1000", "--json"])
        .test_env(&env)
        .spawn();
    let appended = BTreeMap::from([(id.to_string(), before.snapshots.len())]);
    wait_for_appends(&env, std::slice::from_ref(&id), &appended).await;

    // The pass plans on the table as it is now.
    let config = env.load_config();
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let settings = CompactionSettings::from(&config.compactor);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let step = CompactionStep::new(settings.clone(), clock.clone());
    let (scope, cancel) = (Scope::default(), CancellationToken::new());
    let cx = TableContext::new(&id, &table, &catalog, &scope, &cancel);
    let plan = step.plan(&cx).await.unwrap();
    let labels: Vec<&String> = plan.candidates.iter().map(|c| &c.hour_label).collect();
    assert_eq!(labels, Vec::from_iter(&hours), "{key}");

    // Another compaction commits the two big hours meanwhile.
    let other = BinCommand::new(COMPACTOR)
        .args(["compact", "--json"])
        .test_env(&env)
        .env("RUST_LOG", "info")
        .env("SIGNALDB_COMPACTOR_MIN_INPUT_FILES", "6")
        .run();
    let other = json_ok(&other);
    let other = &table_entry(&other, &id)["details"];
    let theirs = executed(other);
    let their_hours: Vec<&str> = theirs.iter().map(|g| g.label.as_str()).collect();
    assert_eq!(their_hours, [hours[0].as_str(), hours[1].as_str()], "{key}: {other}");
    assert!(theirs.iter().all(Executed::committed), "{key}: {theirs:?}");

    // The pass rewrites its four groups and commits them as one batch.
    let rewrites = compactor::RewriteSlots::new(settings.execute.max_concurrent_groups);
    let cache = ManifestCache::new();
    let execution =
        execute_plan(&cx, &plan, &settings.execute, clock.as_ref(), &rewrites, &cache).await;
    let outcome = CompactionOutcome { plan, execution: Some(execution), manifests: None };
    let report = serde_json::to_value(outcome).expect("serialising the pass's outcome");
    assert!(writer.is_running(), "the writer stopped while compaction ran");
    writer.terminate();
    let out = writer.wait_timeout(Duration::from_secs(30));
    out.assert_success();
    let summary = out.json();
    let written = &summary["tables"][0];
    let (writer_rows, appends) = (written["rows"].as_u64().unwrap(), written["snapshots"].as_u64());
    eprintln!(
        "{key}: the pass met {} commit conflict(s), the other compaction {}; the writer \
         appended {} time(s)",
        report["execution"]["conflicts"],
        other["execution"]["conflicts"],
        appends.unwrap()
    );

    // The report: the two hours the other compaction took are given up, the others committed
    // together.
    let ours = executed(&report);
    assert_eq!(ours.iter().map(|g| &g.label).collect::<Vec<_>>(), Vec::from_iter(&hours));
    for g in &ours[..2] {
        assert_eq!((g.status.as_str(), g.kind.as_str()), ("abandoned", "files_no_longer_live"));
        assert!(g.reason.contains("removed by another commit"), "{key}: {g:?}");
        assert!(g.files_out >= 1 && g.bytes_out > 0, "{key}: it had written its files: {g:?}");
    }
    assert!(ours[2..].iter().all(Executed::committed), "{key}: {ours:?}");
    let ours_committed: BTreeSet<i64> = ours.iter().filter_map(|g| g.snapshot_id).collect();
    assert_eq!(ours_committed.len(), 1, "{key}: one snapshot for the batch: {ours:?}");
    let execution = &report["execution"];
    assert_eq!([&execution["groups_committed"], &execution["groups_abandoned"]], [2, 2]);

    // Every row: the back-dated hours exactly as they were, the writer's rows in its hour.
    let after = read_by_hour(&env, &[&id]).remove(&id.to_string()).unwrap();
    for hour in &hours {
        assert_eq!(after.content.get(hour), before.content.get(hour), "{key} {hour}");
    }
    assert_eq!(after.total_rows(), before.total_rows() + writer_rows, "{key}");

    // Each hour in the one file of whichever compaction committed it; no other compacted file
    // is left on storage: the given-up groups' files are deleted.
    for (hour, g) in hours.iter().zip(&ours) {
        let live = after.files_of(hour);
        assert_eq!(live.len(), 1, "{key} {hour}: {live:?}");
        assert!(file_name(live.first().unwrap()).starts_with("compacted-"), "{key}: {live:?}");
        assert_eq!(compacted_on_storage(&env, &id, g.hour).await, live, "{key} {hour}");
    }

    // Every snapshot in one line: the appends, the other compaction's and the pass's replace.
    let replaces: BTreeSet<i64> = after
        .snapshots
        .iter()
        .filter(|s| s.operation == "replace")
        .map(|s| s.snapshot_id)
        .collect();
    let theirs: BTreeSet<i64> = theirs.iter().filter_map(|g| g.snapshot_id).collect();
    assert_eq!(replaces, theirs.union(&ours_committed).copied().collect(), "{key}");
    assert_eq!(replaces.len(), 2, "{key}");
    let expected = before.snapshots.len() as u64 + appends.unwrap() + 2;
    assert_eq!(after.snapshots.len() as u64, expected, "{key}");
    assert_linear_history(&key, &after);
}
