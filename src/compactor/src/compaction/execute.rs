//! Executing a table's compaction plan: each group is rewritten into new files, and finished
//! groups are committed in batches, each one `replace` snapshot (`batch.rs`); a group that
//! fails is abandoned without touching the table.
//!
//! Invariants:
//! - A group's commit removes exactly its input files and adds its new files, with the data
//!   sequence number of the snapshot the plan was made from (so that delete files committed
//!   later still apply), and only while every input file is still live.
//! - Input files are never deleted: readers of older snapshots keep working until snapshot
//!   expiration and orphan cleanup. The new files of an abandoned group are deleted, unless the
//!   commit's outcome is unknown (they may be referenced).
//! - Once the pass is cancelled nothing more is committed: groups not started stay so (a group
//!   still waiting for its rewrite slot included), and groups rewritten but not yet committed
//!   are abandoned and their files deleted.
//! - Groups are rewritten within `max_concurrent_groups` slots ([`super::slots`]; several
//!   small groups share one), over every table of the pass; commits of one table are made one
//!   after the other, so the groups of a pass never conflict with each other.

use std::collections::HashMap;

use common::clock::Clock;
use common::partition::hour_label;
use futures::StreamExt;
use iceberg::scan::FileScanTask;
use serde::Serialize;
use tokio::sync::Mutex;
use tracing::warn;

use super::abandon::AbandonKind;
use super::copy::write_group;
use super::order::OutputOrder;
use super::plan::Method;
use super::plan::{FileGroup, PartitionPlan, TablePlan};
use super::rewrite::{RewriteError, RewriteOutput, RewriteSettings, RowBounds, delete_files};
use super::scan::{scan_tasks, take_group_tasks};
use super::slots::{RewriteSlots, SHARES_PER_SLOT};
use crate::failure::{Failure, FailureKind};
use crate::live_files::ManifestCache;
use crate::log_target;
use crate::snapshot::{CommitOutcome, ManifestMerge, MergePolicy, RetryPolicy};
use crate::step::TableContext;

/// How a plan is executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteSettings {
    /// How groups are rewritten.
    pub rewrite: RewriteSettings,
    /// Groups of one table rewritten at the same time.
    pub max_concurrent_groups: usize,
    /// Retries of a commit that lost a race with another writer.
    pub retry: RetryPolicy,
    /// Groups committed together in one `replace` snapshot; 0 commits every group of the
    /// table's pass at once.
    pub groups_per_commit: usize,
    /// When the pass's commits merge the table's small manifests (before its own properties
    /// override it).
    pub merge: MergePolicy,
}

/// What became of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GroupStatus {
    /// The group's `replace` snapshot is committed.
    Committed {
        /// The snapshot.
        snapshot_id: i64,
    },
    /// The group was given up; the table is as it was and the group's new files are deleted.
    Abandoned {
        /// Why, by kind.
        kind: AbandonKind,
        /// The cause, naming the file when one is at fault.
        reason: String,
    },
    /// The commit failed in a way that leaves unknown whether the snapshot became current;
    /// the new files are kept, since they may be referenced.
    Unknown {
        /// The commit error.
        reason: String,
    },
}

/// The execution of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupResult {
    /// The partition (hours since the epoch).
    pub hour: i64,
    /// The partition as `YYYY-MM-DD-HH`.
    pub hour_label: String,
    /// Input files.
    pub files_in: usize,
    /// Files written (0 when the rewrite failed; an abandoned group's files are deleted).
    pub files_out: usize,
    /// Rows of the inputs according to the manifests.
    pub rows: u64,
    /// Bytes of the inputs.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Commit attempts lost to another writer.
    pub conflicts: u32,
    /// Sorted runs the group's sort spilled to disk.
    pub spilled_runs: usize,
    /// How the group's files were written (as planned unless a planned copy fell back).
    pub method: Method,
    /// Why a group planned to be copied was rewritten instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_fallback: Option<String>,
    /// What became of the group.
    #[serde(flatten)]
    pub status: GroupStatus,
}

impl GroupResult {
    /// Whether the group's snapshot is committed.
    pub fn committed(&self) -> bool {
        matches!(self.status, GroupStatus::Committed { .. })
    }
}

/// The execution of one table's plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableExecution {
    /// Groups committed.
    pub groups_committed: usize,
    /// Groups abandoned (or of unknown outcome).
    pub groups_abandoned: usize,
    /// Groups not started because the pass was cancelled (an operator's cancel, a shutdown).
    pub groups_not_started: usize,
    /// Input files replaced by committed groups.
    pub files_removed: usize,
    /// Files added by committed groups.
    pub files_added: usize,
    /// Input bytes rewritten by committed groups.
    pub bytes_rewritten: u64,
    /// Bytes of the files added by committed groups.
    pub bytes_written: u64,
    /// Rows rewritten by committed groups.
    pub rows: u64,
    /// Delete files the committed groups applied and their snapshots removed.
    pub delete_files_removed: usize,
    /// Commit attempts lost to other writers, over all groups.
    pub conflicts: u32,
    /// What the pass's commits merged of the table's small manifests.
    pub manifest_merge: ManifestMerge,
    /// Manifests the table's current snapshot lists after the pass's last commit; `None`
    /// when the pass committed nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifests_after: Option<usize>,
    /// Every group started, oldest partition first.
    pub groups: Vec<GroupResult>,
}

/// Executes `plan`, made from `cx.table`, on the table of `cx`; each group rewrites only while
/// it holds its share of `rewrites` (shared with the other tables of the pass). `manifests`
/// holds what the plan read of the table's manifests.
pub async fn execute(
    cx: &TableContext<'_>,
    plan: &TablePlan,
    settings: &ExecuteSettings,
    clock: &dyn Clock,
    rewrites: &RewriteSlots,
    manifests: &ManifestCache,
) -> TableExecution {
    let work: Vec<(&PartitionPlan, &FileGroup)> =
        plan.candidates.iter().flat_map(|p| p.groups.iter().map(move |g| (p, g))).collect();
    let mut out = TableExecution::default();
    let Some(start_sequence) = cx.table.metadata().current_snapshot().map(|s| s.sequence_number())
    else {
        return out;
    };
    let total = work.len();
    if total == 0 || cx.cancel.is_cancelled() {
        out.groups_not_started = total;
        return out;
    }
    let paths = work.iter().flat_map(|(_, g)| g.files.iter().map(String::as_str));
    let scanned = scan_tasks(cx.table, paths, manifests).await;
    let tasks = Mutex::new(match scanned {
        Ok(tasks) => tasks,
        Err(e) => {
            // Without a scan no group can be read: each is abandoned with the same cause.
            let reason = e.to_string();
            let id = cx.id;
            warn!(
                target: log_target::SERVICE,
                tenant = %id.tenant, dataset = %id.dataset, table = %id.table, groups = total,
                error = %reason, "Abandoned every compaction group of the table"
            );
            for (p, g) in work {
                let status =
                    GroupStatus::Abandoned { kind: AbandonKind::Scan, reason: reason.clone() };
                out.record(GroupResult { status, ..sizes(p, g, None) });
            }
            return out;
        }
    });
    let group = GroupRun {
        cx,
        settings,
        clock,
        start_sequence,
        tasks: &tasks,
        manifests,
        rewrites,
        order: plan.sort.as_ref(),
    };
    let group = &group;
    // Indices, not references, cross the stream: its closures must be general over lifetimes.
    let indices = plan
        .candidates
        .iter()
        .enumerate()
        .flat_map(|(p, c)| (0..c.groups.len()).map(move |g| (p, g)))
        .collect::<Vec<_>>();
    let mut rewrites = futures::stream::iter(indices)
        .take_while(|_| std::future::ready(!cx.cancel.is_cancelled()))
        .map(|(p, g)| {
            let partition = &plan.candidates[p];
            async move { (p, g, group.rewrite(partition, &partition.groups[g]).await) }
        })
        .buffer_unordered(settings.max_concurrent_groups.max(1) * SHARES_PER_SLOT);
    let batch_size = match settings.groups_per_commit {
        0 => usize::MAX,
        n => n,
    };
    let (mut started, mut pending) = (0, Vec::new());
    while let Some((p, g, rewritten)) = rewrites.next().await {
        // Cancelled while it waited for its slot: not started.
        let Some(rewritten) = rewritten else { continue };
        started += 1;
        match rewritten {
            Ok(output) => pending.push(Rewritten {
                partition: &plan.candidates[p],
                group: &plan.candidates[p].groups[g],
                output,
            }),
            Err(result) => out.record(result),
        }
        if pending.len() >= batch_size {
            group.settle(std::mem::take(&mut pending), &mut out).await;
        }
    }
    if !pending.is_empty() {
        group.settle(pending, &mut out).await;
    }
    out.groups_not_started = total - started;
    out.groups.sort_by_key(|g| g.hour);
    out
}

impl TableExecution {
    /// The groups that failed (unreadable input, write or commit errors, unknown commit
    /// outcome), each described with its hour and reason; contention and a rewrite without
    /// gain are not failures.
    pub fn failures(&self) -> Vec<Failure> {
        self.groups
            .iter()
            .filter_map(|g| match &g.status {
                GroupStatus::Committed { .. } => None,
                GroupStatus::Abandoned { kind, reason } => kind
                    .failure()
                    .map(|k| Failure::new(k, format!("hour={}: {reason}", g.hour_label))),
                GroupStatus::Unknown { reason } => Some(Failure::new(
                    FailureKind::Catalog,
                    format!("hour={}: {reason}", g.hour_label),
                )),
            })
            .collect()
    }

    fn record_batch(&mut self, batch: BatchResult) {
        self.delete_files_removed += batch.deletes_removed;
        if let Some(commit) = batch.commit {
            self.manifests_after = Some(commit.manifests);
            self.manifest_merge.add(commit.merge.unwrap_or_default());
        }
        for result in batch.groups {
            self.record(result);
        }
    }

    fn record(&mut self, result: GroupResult) {
        self.conflicts += result.conflicts;
        if result.committed() {
            self.groups_committed += 1;
            self.files_removed += result.files_in;
            self.files_added += result.files_out;
            self.bytes_rewritten += result.bytes_in;
            self.bytes_written += result.bytes_out;
            self.rows += result.rows;
        } else {
            self.groups_abandoned += 1;
        }
        self.groups.push(result);
    }
}

/// What every group of one table's execution shares.
pub(super) struct GroupRun<'a, 'b> {
    pub(super) cx: &'a TableContext<'b>,
    pub(super) settings: &'a ExecuteSettings,
    pub(super) clock: &'a dyn Clock,
    /// Sequence number of the snapshot the plan was read from: the added files carry it.
    pub(super) start_sequence: i64,
    tasks: &'a Mutex<HashMap<String, FileScanTask>>,
    /// What each manifest lists, shared by the pass's plan, scan and commits of the table.
    pub(super) manifests: &'a ManifestCache,
    /// Room to rewrite, shared by every table of the pass.
    rewrites: &'a RewriteSlots,
    /// The order the table's rows are written in, when sorted.
    order: Option<&'a OutputOrder>,
}

/// What committing one batch of groups did.
pub(super) struct BatchResult {
    /// The result of every group of the batch.
    pub(super) groups: Vec<GroupResult>,
    /// The batch's snapshot, when it was committed.
    pub(super) commit: Option<CommitOutcome>,
    /// Delete files the snapshot removed because the batch's rewrites applied them and they
    /// apply to no live data file any more.
    pub(super) deletes_removed: usize,
}

/// A group rewritten and waiting for its commit.
pub(super) struct Rewritten<'p> {
    /// Its partition.
    pub(super) partition: &'p PartitionPlan,
    /// The group.
    pub(super) group: &'p FileGroup,
    /// What the rewrite wrote.
    pub(super) output: RewriteOutput,
}

impl GroupRun<'_, '_> {
    /// Commits the rewritten groups of `batch` into `out`; once the pass is cancelled they
    /// are abandoned instead and their files deleted, so a cancelled pass commits nothing
    /// after the cancel.
    async fn settle(&self, batch: Vec<Rewritten<'_>>, out: &mut TableExecution) {
        if !self.cx.cancel.is_cancelled() {
            out.record_batch(self.commit(batch).await);
            return;
        }
        for r in batch {
            let reason = "the pass was cancelled before the group's commit".to_string();
            let kind = AbandonKind::Cancelled;
            out.record(self.abandon(r.partition, r.group, Some(&r.output), 0, kind, reason).await);
        }
    }

    /// Rewrites `group` once it has its slot; a group that cannot be rewritten, or would gain
    /// nothing, is returned abandoned, and `None` when the pass was cancelled before the group
    /// had its slot (it is not started).
    async fn rewrite(
        &self,
        partition: &PartitionPlan,
        group: &FileGroup,
    ) -> Option<Result<RewriteOutput, GroupResult>> {
        let _permit = self.rewrites.acquire(group.bytes, partition.method).await;
        if self.cx.cancel.is_cancelled() {
            return None;
        }
        Some(self.rewrite_now(partition, group).await)
    }

    /// Rewrites `group` (its slot held).
    async fn rewrite_now(
        &self,
        partition: &PartitionPlan,
        group: &FileGroup,
    ) -> Result<RewriteOutput, GroupResult> {
        let part = partition.partition;
        let tasks = take_group_tasks(&mut *self.tasks.lock().await, group);
        let rewritten = match tasks {
            Ok(tasks) => {
                // A task of its own, so that the groups in flight decode and encode on every
                // core rather than all on the pass's.
                let (table, settings) = (self.cx.table.clone(), self.settings.rewrite.clone());
                let (rows, planned) = (RowBounds::of(group), group.planned_output());
                let (order, method) = (self.order.cloned(), partition.method);
                let rewrite =
                    tokio::spawn(common::storage::counted::RequestTally::carry(async move {
                        let order = order.as_ref();
                        let settings = &settings;
                        write_group(&table, tasks, rows, planned, part, settings, method, order)
                            .await
                    }));
                rewrite.await.unwrap_or_else(|e| Err(RewriteError::Task(e.to_string())))
            }
            Err(e) => Err(e),
        };
        let output = match rewritten {
            Ok(output) => output,
            Err(e) => {
                return Err(self.abandon(partition, group, None, 0, e.kind(), e.to_string()).await);
            }
        };
        // Merging is not the only gain: deletes applied, or files moved into the current spec.
        let other_spec = partition.other_spec_files > 0;
        if output.files.len() >= group.files.len() && group.delete_files.is_empty() && !other_spec {
            let reason = format!(
                "the rewrite would not reduce the file count ({} -> {})",
                group.files.len(),
                output.files.len()
            );
            return Err(self
                .abandon(partition, group, Some(&output), 0, AbandonKind::NoGain, reason)
                .await);
        }
        Ok(output)
    }

    /// Gives `group` up for `reason`, deleting the files it wrote.
    pub(super) async fn abandon(
        &self,
        partition: &PartitionPlan,
        group: &FileGroup,
        output: Option<&RewriteOutput>,
        conflicts: u32,
        kind: AbandonKind,
        reason: String,
    ) -> GroupResult {
        let id = self.cx.id;
        if let Some(output) = output {
            let paths: Vec<String> =
                output.files.iter().map(|f| f.file_path().to_string()).collect();
            delete_files(self.cx.table.file_io(), &paths).await;
        }
        warn!(
            target: log_target::SERVICE,
            tenant = %id.tenant, dataset = %id.dataset, table = %id.table,
            hour = %partition.hour_label, files = group.files.len(), kind = %kind, reason = %reason,
            "Abandoned compaction group"
        );
        let status = GroupStatus::Abandoned { kind, reason };
        GroupResult { status, conflicts, ..sizes(partition, group, output) }
    }
}

/// A group's sizes; `output` fills the written side.
pub(super) fn sizes(
    partition: &PartitionPlan,
    group: &FileGroup,
    output: Option<&RewriteOutput>,
) -> GroupResult {
    GroupResult {
        hour: partition.hour,
        hour_label: hour_label(partition.hour),
        files_in: group.files.len(),
        files_out: output.map_or(0, |o| o.files.len()),
        rows: group.rows,
        bytes_in: group.bytes,
        bytes_out: output.map_or(0, RewriteOutput::bytes_written),
        conflicts: 0,
        spilled_runs: output.map_or(0, |o| o.spilled_runs),
        method: output.map_or(partition.method, |o| o.method),
        copy_fallback: output.and_then(|o| o.copy_fallback.clone()),
        status: GroupStatus::Abandoned { kind: AbandonKind::Task, reason: String::new() },
    }
}
