//! Compaction passes on a real SQLite catalog and local warehouse: rows kept, files merged,
//! failures and races confined to their group.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arrow_array::{Array, RecordBatch, TimestampMicrosecondArray};
use chrono::{DateTime, Utc};
use common::clock::{Clock, SystemClock};
use common::partition::{MICROS_PER_HOUR, PartitionDirectory, TimePartition};
use futures::TryStreamExt;
use iceberg::spec::{DataFile, ManifestStatus};
use iceberg::table::Table;
use tokio_util::sync::CancellationToken;

use super::fixture::{
    BASE_HOUR, Entry, Fixture, assert_totals_match_walk, batch, entries, live, paths_of_hour, write,
};
use crate::compaction::plan::FileGroup;
use crate::compaction::rewrite::{delete_files, rewrite_tasks};
use crate::compaction::scan::{scan_tasks, take_group_tasks};
use crate::compaction::slots::RewriteSlots;
use crate::compaction::{
    CompactionOutcome, CompactionSettings, CompactionStep, ExecuteSettings, GroupStatus, Method,
    PlanSettings, RewriteError, RewriteSettings, SortPolicy, TableExecution, TablePlan,
    rewrite_group,
};
use crate::job::Scope;
use crate::live_files::ManifestCache;
use crate::metered::Metered;
use crate::metrics::{Metrics, table_labels};
use crate::snapshot::{MergePolicy, RetryPolicy, SnapshotChange, commit, stage};
use crate::step::{TableContext, TableStep};

const HOURS: [i64; 3] = [BASE_HOUR, BASE_HOUR + 1, BASE_HOUR + 2];
const ROWS: usize = 25;
pub(super) const MIB: u64 = 1024 * 1024;

pub(super) fn settings(target: u64) -> CompactionSettings {
    CompactionSettings {
        plan: PlanSettings {
            target_file_size_bytes: target,
            small_file_threshold_bytes: target / 2,
            min_input_files: 5,
            quiet_period: Duration::from_secs(3600),
            copy_min_row_group_bytes: None,
            delete_file_threshold: 0,
            delete_ratio_percent: 30,
        },
        sort: SortPolicy::from(&common::config::SortConfig::default()),
        execute: ExecuteSettings {
            rewrite: RewriteSettings::new(target),
            max_concurrent_groups: 2,
            retry: RetryPolicy { initial_backoff: Duration::from_millis(1), ..Default::default() },
            groups_per_commit: 0,
            merge: MergePolicy { min_count: 100, target_size_bytes: 8 * MIB },
        },
        tenant_cap: Default::default(),
    }
}

/// The compaction step with its metrics, as the assembly wraps it.
pub(super) fn step(clock: Arc<dyn Clock>) -> (Metered<CompactionStep>, Arc<Metrics>) {
    step_with(settings(128 * MIB), clock)
}

/// The compaction step with `settings` and its metrics.
pub(super) fn step_with(
    settings: CompactionSettings,
    clock: Arc<dyn Clock>,
) -> (Metered<CompactionStep>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let step = CompactionStep::new(settings, clock);
    (Metered::new(step, Arc::clone(&metrics)), metrics)
}

/// Plans `table` and executes the plan, as a pass does.
pub(super) async fn compact(
    fx: &Fixture,
    step: &Metered<CompactionStep>,
    table: &Table,
    cancel: &CancellationToken,
) -> (TablePlan, TableExecution) {
    let scope = Scope::default();
    let cx = TableContext::new(&fx.id, table, &fx.catalog, &scope, cancel);
    let CompactionOutcome { plan, execution, manifests: _ } =
        step.run_table(&Default::default(), cx).await.unwrap().details;
    (plan, execution.expect("a pass that is not a dry run executes its plan"))
}

fn counter(
    metrics: &Metrics,
    fx: &Fixture,
    pick: fn(&Metrics) -> &prometheus::IntCounterVec,
) -> u64 {
    pick(metrics).with_label_values(&table_labels(&fx.id)).get()
}

/// Every row of the current snapshot as text, sorted, per hour.
pub(super) async fn rows_by_hour(table: &Table) -> BTreeMap<i64, Vec<String>> {
    rows_by_hour_at(table, None).await
}

/// Every row of `snapshot` (the current one when `None`) as text, sorted, per hour.
async fn rows_by_hour_at(table: &Table, snapshot: Option<i64>) -> BTreeMap<i64, Vec<String>> {
    let mut scan = table.scan().select_all();
    if let Some(id) = snapshot {
        scan = scan.snapshot_id(id);
    }
    let scan = scan.build().unwrap();
    let batches: Vec<RecordBatch> = scan.to_arrow().await.unwrap().try_collect().await.unwrap();
    let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for b in &batches {
        let ts = b.column(0).as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        for i in 0..b.num_rows() {
            let row: Vec<String> =
                b.columns().iter().map(|c| format!("{:?}", c.slice(i, 1))).collect();
            out.entry(ts.value(i).div_euclid(MICROS_PER_HOUR)).or_default().push(row.join("|"));
        }
    }
    out.values_mut().for_each(|rows| rows.sort());
    out
}

/// One group of every file in `files`, planned as `expected_output_files` outputs.
fn group_of(files: &[Entry], expected_output_files: usize) -> FileGroup {
    FileGroup {
        files: files.iter().map(|e| e.path.clone()).collect(),
        bytes: files.iter().map(|e| e.size).sum(),
        rows: files.iter().map(|e| e.records).sum(),
        expected_output_files,
        expected_bytes: files.iter().map(|e| e.size).sum(),
        delete_files: Vec::new(),
        min_rows: 0,
    }
}

/// Names of the compacted files in `hour`'s data directory.
fn compacted_files_on_disk(table: &Table, hour: i64) -> Vec<String> {
    let dir = PartitionDirectory::hour(table.metadata().location(), hour);
    let dir = dir.dir().strip_prefix("file://").unwrap();
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("compacted-"))
        .collect()
}

fn status_kind(status: &GroupStatus) -> &str {
    match status {
        GroupStatus::Committed { .. } => "committed",
        GroupStatus::Abandoned { kind, .. } => kind.as_str(),
        GroupStatus::Unknown { .. } => "unknown",
    }
}

#[tokio::test]
async fn quiet_hours_compact_into_one_file_each_with_the_same_rows() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS, 6, ROWS).await;
    let before = fx.load().await;
    let start_sequence = before.metadata().current_snapshot().unwrap().sequence_number();
    let rows_before = rows_by_hour(&before).await;
    let (step, metrics) = step(Arc::new(SystemClock));

    let (plan, execution) = compact(&fx, &step, &before, &CancellationToken::new()).await;
    assert_eq!(plan.candidates.len(), 3);
    assert_eq!((plan.files_before, plan.files_after), (18, 3));
    assert_eq!((execution.groups_committed, execution.groups_abandoned), (3, 0));
    assert_eq!((execution.files_removed, execution.files_added), (18, 3));
    assert_eq!(execution.rows, 18 * ROWS as u64);

    let after = fx.load().await;
    assert_eq!(rows_by_hour(&after).await, rows_before);
    let live = live(&after).await;
    assert_eq!(live.len(), plan.files_after);
    for e in &live {
        let dir = PartitionDirectory::hour(after.metadata().location(), e.hour);
        let name = e.path.strip_prefix(&format!("{}/", dir.dir())).expect("in its hour directory");
        assert!(name.starts_with("compacted-"), "{name}");
        // Compacted files keep the sequence number of the snapshot the plan read.
        assert_eq!(e.sequence_number, start_sequence);
    }
    let current = after.metadata().current_snapshot().unwrap();
    assert_eq!(current.summary().operation.as_str(), "replace");
    let mut snapshots: Vec<_> = after.metadata().snapshots().collect();
    snapshots.sort_by_key(|s| s.sequence_number());
    let ops: Vec<&str> = snapshots.iter().map(|s| s.summary().operation.as_str()).collect();
    assert_eq!(ops[6..], ["replace"], "one snapshot for the table's pass");
    assert_totals_match_walk(&after).await;
    // Readers of the snapshot the plan read still find every input file.
    let old = before.metadata().current_snapshot().unwrap().snapshot_id();
    let old_scan = after.scan().snapshot_id(old).select_all().build().unwrap();
    let old_rows: usize = old_scan
        .to_arrow()
        .await
        .unwrap()
        .try_fold(0, |n, b| async move { Ok(n + b.num_rows()) })
        .await
        .unwrap();
    assert_eq!(old_rows, 18 * ROWS);

    assert_eq!(counter(&metrics, &fx, |m| &m.compaction.runs), 1);
    assert_eq!(counter(&metrics, &fx, |m| &m.compaction.files_compacted), 18);
    let bytes: u64 = plan.candidates.iter().flat_map(|c| &c.groups).map(|g| g.bytes).sum();
    assert_eq!(counter(&metrics, &fx, |m| &m.compaction.bytes_compacted), bytes);
    assert_eq!(counter(&metrics, &fx, |m| &m.compaction.groups_abandoned), 0);
    let duration = metrics.compaction.duration.with_label_values(&table_labels(&fx.id));
    assert_eq!(duration.get_sample_count(), 1);

    // Nothing is left to compact.
    let (plan, execution) = compact(&fx, &step, &after, &CancellationToken::new()).await;
    assert!(plan.candidates.is_empty());
    assert!(execution.groups.is_empty());
}

#[tokio::test]
async fn a_corrupt_input_fails_its_group_only_and_leaves_no_new_file() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS, 6, ROWS).await;
    let before = fx.load().await;
    let rows_before = rows_by_hour(&before).await;
    let (step, metrics) = step(Arc::new(SystemClock));
    let plan = {
        let scope = Scope::default();
        let cancel = CancellationToken::new();
        let cx = TableContext::new(&fx.id, &before, &fx.catalog, &scope, &cancel);
        step.inner().plan(&cx).await.unwrap()
    };
    // The last input read, so that the group has written output before it fails.
    let victim = plan.candidates[1].groups[0].files.last().unwrap().clone();
    let local = victim.strip_prefix("file://").unwrap();
    let original = std::fs::read(local).unwrap();
    std::fs::write(local, vec![0x5a; original.len()]).unwrap();

    let (_, execution) = compact(&fx, &step, &before, &CancellationToken::new()).await;
    assert_eq!((execution.groups_committed, execution.groups_abandoned), (2, 1));
    let failed = execution.groups.iter().find(|g| !g.committed()).unwrap();
    assert_eq!(failed.hour, HOURS[1]);
    let GroupStatus::Abandoned { kind, reason } = &failed.status else { panic!("{failed:?}") };
    assert_eq!(kind, "read");
    assert!(reason.contains(&victim), "{reason}");

    let after = fx.load().await;
    let mut inputs = paths_of_hour(&before, HOURS[1]).await;
    let mut still = paths_of_hour(&after, HOURS[1]).await;
    inputs.sort();
    still.sort();
    assert_eq!(still, inputs, "the failed partition is as it was");
    assert!(compacted_files_on_disk(&after, HOURS[1]).is_empty());
    assert_eq!(compacted_files_on_disk(&after, HOURS[0]).len(), 1);
    assert_eq!(paths_of_hour(&after, HOURS[0]).await.len(), 1);
    assert_eq!(paths_of_hour(&after, HOURS[2]).await.len(), 1);
    // With the file repaired, every row is still there.
    std::fs::write(local, original).unwrap();
    assert_eq!(rows_by_hour(&after).await, rows_before);
    assert_eq!(counter(&metrics, &fx, |m| &m.compaction.groups_abandoned), 1);
    assert_eq!(counter(&metrics, &fx, |m| &m.compaction.files_compacted), 12);
}

/// The system clock, running `hook` (on a blocking section) the `at`-th time it is read.
pub(super) struct HookClock {
    pub(super) calls: AtomicUsize,
    pub(super) at: usize,
    pub(super) hook: Box<dyn Fn() + Send + Sync>,
}

impl fmt::Debug for HookClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookClock").field("at", &self.at).finish()
    }
}

impl Clock for HookClock {
    fn now(&self) -> DateTime<Utc> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == self.at {
            tokio::task::block_in_place(|| (self.hook)());
        }
        Utc::now()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_racing_the_commit_is_kept_after_a_retry() {
    let fx = Arc::new(Fixture::new().await);
    fx.fill(&HOURS[..1], 6, ROWS).await;
    let before = fx.load().await;
    let rows_before = rows_by_hour(&before).await;
    let late = write(&before, HOURS[0], vec![batch(&before, HOURS[0], 10, 999)]).await;
    let late_path = late[0].file_path().to_string();

    // The clock is read once by planning, then before each commit attempt is staged: the
    // append lands between the first attempt's load and its compare-and-swap.
    let appender = Arc::clone(&fx);
    let hook = move || {
        let (fx, late) = (Arc::clone(&appender), late.clone());
        tokio::runtime::Handle::current().block_on(async move { fx.append(late).await });
    };
    let clock = Arc::new(HookClock { calls: AtomicUsize::new(0), at: 1, hook: Box::new(hook) });
    let (step, metrics) = step(clock);
    let (_, execution) = compact(&fx, &step, &before, &CancellationToken::new()).await;
    assert_eq!(execution.groups_committed, 1, "{execution:?}");
    assert_eq!(execution.conflicts, 1);
    assert_eq!(counter(&metrics, &fx, |m| &m.compaction.conflicts), 1);

    let after = fx.load().await;
    let current = after.metadata().current_snapshot().unwrap();
    assert_eq!(current.summary().operation.as_str(), "replace");
    // The compaction's parent is the racing append: it holds exactly the rows to keep.
    let appended = current.parent_snapshot_id();
    let expected = rows_by_hour_at(&after, appended).await;
    assert_eq!(expected[&HOURS[0]].len(), rows_before[&HOURS[0]].len() + 10);
    assert_eq!(rows_by_hour(&after).await, expected);
    let live = paths_of_hour(&after, HOURS[0]).await;
    assert_eq!(live.len(), 2);
    assert!(live.contains(&late_path));
    assert_totals_match_walk(&after).await;
}

#[tokio::test]
async fn a_group_whose_input_was_replaced_first_is_abandoned_and_cleaned_up() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS[..2], 6, ROWS).await;
    let planned = fx.load().await;

    // Another compaction replaces one input of the first hour after the plan was made.
    let taken = paths_of_hour(&planned, HOURS[0]).await.remove(0);
    let copy = write(&planned, HOURS[0], vec![batch(&planned, HOURS[0], ROWS, 4242)]).await;
    let other = SnapshotChange::replace([taken], copy, None);
    let staged = stage(&planned, &other, Utc::now().timestamp_millis()).await.unwrap();
    commit(&fx.catalog, &fx.id, None, staged).await.unwrap();
    let raced = fx.load().await;
    let rows_raced = rows_by_hour(&raced).await;

    let (step, metrics) = step(Arc::new(SystemClock));
    let (_, execution) = compact(&fx, &step, &planned, &CancellationToken::new()).await;
    assert_eq!((execution.groups_committed, execution.groups_abandoned), (1, 1));
    let lost = execution.groups.iter().find(|g| g.hour == HOURS[0]).unwrap();
    assert_eq!(status_kind(&lost.status), "files_no_longer_live");
    assert_eq!(lost.files_out, 1, "the group was rewritten before its commit was refused");

    let after = fx.load().await;
    assert!(compacted_files_on_disk(&after, HOURS[0]).is_empty(), "new files deleted");
    assert_eq!(paths_of_hour(&after, HOURS[0]).await.len(), 6);
    assert_eq!(paths_of_hour(&after, HOURS[1]).await.len(), 1);
    assert_eq!(rows_by_hour(&after).await, rows_raced);
    assert_eq!(counter(&metrics, &fx, |m| &m.compaction.groups_abandoned), 1);
    assert_totals_match_walk(&after).await;
}

#[tokio::test]
async fn a_dry_run_or_a_cancelled_pass_changes_nothing() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS, 6, ROWS).await;
    let table = fx.load().await;
    let location = table.metadata_location().unwrap().to_string();
    let (step, metrics) = step(Arc::new(SystemClock));

    let scope = Scope { dry_run: true, ..Default::default() };
    let cancel = CancellationToken::new();
    let cx = TableContext::new(&fx.id, &table, &fx.catalog, &scope, &cancel);
    let outcome = step.run_table(&Default::default(), cx).await.unwrap();
    assert!(outcome.summary.starts_with("would compact 3 of 3 partitions"), "{}", outcome.summary);
    let plan = &outcome.details.plan;
    assert_eq!(plan.files_after, 3);
    let details = serde_json::to_value(&outcome.details).unwrap();
    assert!(details.get("execution").is_none());
    assert_eq!(fx.load().await.metadata_location(), Some(location.as_str()));
    assert_eq!(counter(&metrics, &fx, |m| &m.compaction.runs), 0);

    let cancel = CancellationToken::new();
    cancel.cancel();
    let (_, execution) = compact(&fx, &step, &table, &cancel).await;
    assert_eq!(execution.groups_not_started, 3);
    assert!(execution.groups.is_empty());
    assert_eq!(fx.load().await.metadata_location(), Some(location.as_str()));
    for hour in HOURS {
        assert!(compacted_files_on_disk(&table, hour).is_empty());
    }
}

/// Groups still waiting for their rewrite slot when the pass is cancelled are not started:
/// a cancelled pass rewrites nothing more, rather than rewriting them only to throw them away.
#[tokio::test]
async fn a_pass_cancelled_while_its_groups_wait_for_a_slot_starts_none() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS, 6, ROWS).await;
    let table = fx.load().await;
    let location = table.metadata_location().unwrap().to_string();
    let slots = Arc::new(RewriteSlots::new(1));
    let step =
        CompactionStep::sharing(settings(128 * MIB), Arc::new(SystemClock), Arc::clone(&slots));
    let step = Metered::new(step, Arc::new(Metrics::new()));
    // Another pass holds the only slot.
    let other = slots.acquire(u64::MAX, Method::Sort).await;
    let cancel = CancellationToken::new();
    let pass = compact(&fx, &step, &table, &cancel);
    tokio::pin!(pass);
    tokio::select! {
        _ = &mut pass => panic!("the pass ended without a slot"),
        () = tokio::time::sleep(Duration::from_millis(500)) => {}
    }
    cancel.cancel();
    drop(other);
    let (plan, execution) = pass.await;
    assert_eq!(plan.candidates.len(), 3);
    assert_eq!(execution.groups_not_started, 3, "{execution:?}");
    assert!(execution.groups.is_empty(), "{execution:?}");
    assert_eq!(fx.load().await.metadata_location(), Some(location.as_str()));
    for hour in HOURS {
        assert!(compacted_files_on_disk(&table, hour).is_empty(), "nothing was rewritten");
    }
}

#[tokio::test]
async fn an_executed_pass_reports_plan_and_execution() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS[..1], 5, ROWS).await;
    let table = fx.load().await;
    let (step, _) = step(Arc::new(SystemClock));
    let scope = Scope::default();
    let cancel = CancellationToken::new();
    let cx = TableContext::new(&fx.id, &table, &fx.catalog, &scope, &cancel);
    let outcome = step.run_table(&Default::default(), cx).await.unwrap();
    assert!(
        outcome.summary.starts_with(
            "compacted 1 of 1 partitions: 1 group(s) committed, 0 abandoned; 5 -> 1 files"
        ),
        "{}",
        outcome.summary
    );
    assert!(!outcome.summary.contains("not executed"));
    let plan = &outcome.details.plan;
    assert_eq!(plan.files_before, 5);
    let details = serde_json::to_value(&outcome.details).unwrap();
    let execution = &details["execution"];
    assert_eq!(execution["groups_committed"], 1);
    assert_eq!(execution["groups"][0]["status"], "committed");
    assert_eq!(execution["groups"][0]["hour_label"], "2024-01-01-00");
}

#[tokio::test]
async fn a_small_target_rolls_into_several_files_of_about_the_target_size() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS[..1], 6, 2000).await;
    let table = fx.load().await;
    let files = live(&table).await;
    let group = group_of(&files, 1);
    let target = 64 * 1024;
    let settings = RewriteSettings { batch_rows: 1024, ..RewriteSettings::new(target) };
    let out = rewrite_group(&table, &group, TimePartition::hour(HOURS[0]), &settings, None)
        .await
        .unwrap();
    assert_eq!((out.rows_read, out.rows_written), (12_000, 12_000));
    assert_eq!(out.bytes_read, group.bytes);
    assert!(out.files.len() >= 3, "{} file(s)", out.files.len());
    for f in &out.files {
        assert!(f.file_size_in_bytes() <= target + target / 4, "{} bytes", f.file_size_in_bytes());
        assert!(f.file_path().contains("/data/hour=2024-01-01-00/compacted-"));
        assert!(!f.lower_bounds().is_empty(), "column statistics written");
    }
    assert_eq!(compacted_files_on_disk(&table, HOURS[0]).len(), out.files.len());

    // The rows survive a commit of the rolled files.
    let rows_before = rows_by_hour(&table).await;
    let start = table.metadata().current_snapshot().unwrap().sequence_number();
    let change = SnapshotChange::replace(group.files.clone(), out.files, Some(start));
    let staged = stage(&table, &change, Utc::now().timestamp_millis()).await.unwrap();
    commit(&fx.catalog, &fx.id, None, staged).await.unwrap();
    assert_eq!(rows_by_hour(&fx.load().await).await, rows_before);
}

#[tokio::test]
async fn a_row_count_that_does_not_match_the_manifests_abandons_the_rewrite() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS[..1], 3, ROWS).await;
    let table = fx.load().await;
    let paths = paths_of_hour(&table, HOURS[0]).await;
    let group = FileGroup {
        files: paths,
        bytes: 0,
        rows: 3 * ROWS as u64 + 1,
        expected_output_files: 1,
        expected_bytes: 0,
        delete_files: Vec::new(),
        min_rows: 0,
    };
    let paths = group.files.iter().map(String::as_str);
    let mut tasks = scan_tasks(&table, paths, &ManifestCache::new()).await.unwrap();
    let tasks = take_group_tasks(&mut tasks, &group).unwrap();
    let err = rewrite_tasks(
        &table,
        tasks,
        group.rows,
        1,
        TimePartition::hour(HOURS[0]),
        &RewriteSettings::new(MIB),
        None,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RewriteError::RowCountMismatch { expected: 76, read: 75, written: 75, .. }),
        "{err}"
    );
    assert!(compacted_files_on_disk(&table, HOURS[0]).is_empty());

    let missing = FileGroup { files: vec!["file:///nowhere.parquet".into()], ..group };
    let err = rewrite_group(
        &table,
        &missing,
        TimePartition::hour(HOURS[0]),
        &RewriteSettings::new(MIB),
        None,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("file:///nowhere.parquet"), "{err}");
    let statuses: Vec<_> = entries(&table).await.into_iter().map(|e| e.status).collect();
    assert!(statuses.iter().all(|s| *s != ManifestStatus::Deleted));
}

#[tokio::test]
async fn every_output_but_the_last_lands_near_the_target() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS[..1], 6, 16_000).await;
    let table = fx.load().await;
    let files = live(&table).await;
    for target in [64 * 1024, 256 * 1024] {
        // More files planned than the data fills: no file is the planned last one. The first
        // file is sized from the inputs' bytes per row (these fixture files are uncompressed,
        // so it closes early and never late); every later one from the files already written.
        let group = group_of(&files, 1000);
        let settings = RewriteSettings::new(target);
        let out = rewrite_group(&table, &group, TimePartition::hour(HOURS[0]), &settings, None)
            .await
            .unwrap();
        let sizes: Vec<u64> = out.files.iter().map(DataFile::file_size_in_bytes).collect();
        assert!(sizes.len() >= 3, "target {target}: {sizes:?}");
        assert!(sizes[0] as f64 <= target as f64 * 1.1, "target {target}: {sizes:?}");
        for size in &sizes[1..sizes.len() - 1] {
            let ratio = *size as f64 / target as f64;
            assert!((0.75..=1.1).contains(&ratio), "target {target}: {ratio:.2} in {sizes:?}");
        }
        let paths: Vec<String> = out.files.iter().map(|f| f.file_path().to_string()).collect();
        delete_files(table.file_io(), &paths).await;
    }
}

#[tokio::test]
async fn a_group_whose_rewrite_would_not_reduce_the_file_count_is_not_committed() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS[..1], 2, 2000).await;
    let table = fx.load().await;
    let location = table.metadata_location().unwrap().to_string();
    let files = live(&table).await;
    let group = group_of(&files, 1);
    let partition = crate::compaction::plan::PartitionPlan {
        partition: TimePartition::hour(HOURS[0]),
        hour: HOURS[0],
        hour_label: "2024-01-01-00".into(),
        spec_id: table.metadata().default_partition_spec_id(),
        other_spec_files: 0,
        files_before: 2,
        files_after: 1,
        bytes: group.bytes,
        rows: group.rows,
        small_files: 2,
        delete_files: 0,
        delete_rows: 0,
        files_with_deletes_rewritten: 0,
        method: crate::compaction::Method::Rewrite,
        groups: vec![group],
    };
    let plan = TablePlan { partitions: 1, candidates: vec![partition], ..Default::default() };
    // A target far below the files' size: the two inputs would become many outputs.
    let settings = settings(4 * 1024).execute;
    let (scope, cancel) = (Scope::default(), CancellationToken::new());
    let cx = TableContext::new(&fx.id, &table, &fx.catalog, &scope, &cancel);
    let execution = crate::compaction::execute::execute(
        &cx,
        &plan,
        &settings,
        &SystemClock,
        &crate::compaction::slots::RewriteSlots::new(2),
        &ManifestCache::new(),
    )
    .await;
    assert_eq!((execution.groups_committed, execution.groups_abandoned), (0, 1));
    assert_eq!(status_kind(&execution.groups[0].status), "no_gain");
    assert!(execution.failures().is_empty(), "no gain is not a failure");
    assert_eq!(fx.load().await.metadata_location(), Some(location.as_str()));
    assert!(compacted_files_on_disk(&table, HOURS[0]).is_empty(), "its files are deleted");
}

#[tokio::test]
async fn partial_progress_commits_every_n_groups() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS, 6, ROWS).await;
    let before = fx.load().await;
    let rows_before = rows_by_hour(&before).await;
    let mut settings = settings(128 * MIB);
    settings.execute.groups_per_commit = 2;
    let step = Metered::new(CompactionStep::new(settings, Arc::new(SystemClock)), Arc::default());
    let (_, execution) = compact(&fx, &step, &before, &CancellationToken::new()).await;
    assert_eq!(execution.groups_committed, 3);
    let snapshots: BTreeMap<i64, usize> =
        execution.groups.iter().fold(BTreeMap::new(), |mut by, g| {
            let GroupStatus::Committed { snapshot_id } = g.status else { panic!("{g:?}") };
            *by.entry(snapshot_id).or_default() += 1;
            by
        });
    let mut per_commit: Vec<usize> = snapshots.into_values().collect();
    per_commit.sort_unstable();
    assert_eq!(per_commit, [1, 2], "two groups, then the last one");
    let after = fx.load().await;
    assert_eq!(rows_by_hour(&after).await, rows_before);
    assert_totals_match_walk(&after).await;
}

/// The manifests of `table`'s current snapshot.
async fn manifest_count(table: &Table) -> usize {
    let snapshot = table.metadata().current_snapshot().unwrap();
    table.manifest_list_reader(snapshot).load().await.unwrap().entries().len()
}

#[tokio::test]
async fn a_streaming_hour_ends_with_few_manifests_after_one_pass() {
    // A writer committing every flush: one manifest per append.
    let fx = Fixture::new().await;
    fx.fill(&HOURS[..1], 60, 20).await;
    let before = fx.load().await;
    assert_eq!(manifest_count(&before).await, 60);
    let rows_before = rows_by_hour(&before).await;
    let (step, _) = step(Arc::new(SystemClock));
    let (_, execution) = compact(&fx, &step, &before, &CancellationToken::new()).await;
    assert_eq!(execution.groups_committed, 1, "{execution:?}");
    let after = fx.load().await;
    // The removed entries are written once, in one manifest, beside the added file's: no
    // manifest is rewritten to hold only DELETED entries.
    assert_eq!(manifest_count(&after).await, 2);
    assert_eq!(rows_by_hour(&after).await, rows_before);
    assert_totals_match_walk(&after).await;
    let deleted =
        entries(&after).await.iter().filter(|e| e.status == ManifestStatus::Deleted).count();
    assert_eq!(deleted, 60, "every removed file is recorded as DELETED once");
    // Our next commit drops the manifest of removed entries; the next hour's removals get a
    // manifest of their own.
    fx.fill(&HOURS[1..2], 6, 20).await;
    let next = fx.load().await;
    let (_, execution) = compact(&fx, &step, &next, &CancellationToken::new()).await;
    assert_eq!(execution.groups_committed, 1, "{execution:?}");
    let last = fx.load().await;
    assert_eq!(manifest_count(&last).await, 3, "hour 0's file, hour 1's removals and its file");
    let deleted =
        entries(&last).await.iter().filter(|e| e.status == ManifestStatus::Deleted).count();
    assert_eq!(deleted, 6, "only this snapshot's removals are listed");
    assert_totals_match_walk(&last).await;
}

#[tokio::test]
async fn scan_tasks_built_from_the_manifests_equal_the_planners_deletes_included() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS[..2], 3, ROWS).await;
    let table = fx.load().await;
    let paths = paths_of_hour(&table, HOURS[0]).await;
    let planned = |table: Table| async move {
        let scan = table.scan().select_all().build().unwrap();
        let tasks: Vec<_> = scan.plan_files().await.unwrap().try_collect().await.unwrap();
        tasks.into_iter().map(|t| (t.data_file_path.clone(), t)).collect::<BTreeMap<_, _>>()
    };
    let cache = ManifestCache::with_manifests(1_000);
    let built = scan_tasks(&table, paths.iter().map(String::as_str), &cache).await.unwrap();
    assert_eq!(built.len(), paths.len());
    let all = planned(table.clone()).await;
    for (path, task) in &built {
        assert_eq!(Some(task), all.get(path), "the task of {path}");
    }
    assert!(!cache.is_empty(), "the manifests read are remembered");

    // With a delete file in the snapshot each task carries it, as the planner's do.
    fx.add_position_delete(HOURS[0]).await;
    let table = fx.load().await;
    let tasks = scan_tasks(&table, paths.iter().map(String::as_str), &cache).await.unwrap();
    assert_eq!(tasks.len(), paths.len());
    let all = planned(table.clone()).await;
    for (path, task) in &tasks {
        assert_eq!(task.deletes.len(), 1, "the delete file applies to {path}");
        assert_eq!(Some(task), all.get(path), "the task of {path}");
    }
}
