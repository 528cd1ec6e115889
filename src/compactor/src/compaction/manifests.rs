//! The compaction pass's care of a table's manifests: how many the current snapshot lists
//! before and after the pass, and a metadata-only `replace` that merges the small ones when
//! the table has too many and the pass's own commits did not merge them (a streaming table's
//! current hour has nothing to rewrite, but one manifest per append).

use common::clock::Clock;
use iceberg::spec::ManifestFile;
use iceberg::table::Table;
use serde::Serialize;
use tracing::{info, warn};

use super::execute::{ExecuteSettings, TableExecution};
use crate::failure::{Failure, FailureKind};
use crate::live_files::{ManifestCache, manifest_list};
use crate::log_target;
use crate::snapshot::{ManifestMerge, MergePolicy, Retried, SnapshotChange, commit_with_retry};
use crate::step::TableContext;

/// What a compaction pass did to a table's manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ManifestsReport {
    /// Manifests the current snapshot listed when the pass began.
    pub before: usize,
    /// Manifests it lists after the pass.
    pub after: usize,
    /// Manifests whose entries were merged into others by the pass's commits.
    pub rewritten: usize,
    /// Merged manifests written by them.
    pub written: usize,
    /// The metadata-only snapshot that merged manifests, when the pass needed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_snapshot_id: Option<i64>,
    /// Why that merge failed (the table is unchanged by it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// In a dry run, how many manifests a pass would merge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_merge: Option<usize>,
}

impl ManifestsReport {
    /// The report's part of a pass summary: `; manifests 303 -> 4 (300 merged into 2)`.
    pub fn summary(&self) -> String {
        let mut out = format!("; manifests {} -> {}", self.before, self.after);
        if self.rewritten > 0 {
            out.push_str(&format!(" ({} merged into {})", self.rewritten, self.written));
        }
        if let Some(n) = self.would_merge {
            out.push_str(&format!(" (would merge {n})"));
        }
        if let Some(e) = &self.error {
            out.push_str(&format!(" (merge failed: {e})"));
        }
        out
    }
}

/// What `table`'s manifest list `list` says of its manifests, and how many a merge under
/// `policy` (as the table's properties override it) would rewrite.
pub(crate) fn found(table: &Table, list: &[ManifestFile], policy: MergePolicy) -> Found {
    let policy = policy.for_table(table.metadata().properties());
    let mergeable = list.iter().filter(|m| policy.mergeable(m)).count();
    Found { count: list.len(), would_merge: policy.would_merge(list).then_some(mergeable) }
}

/// A table's manifests as a pass found them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    /// Manifests its current snapshot lists.
    pub count: usize,
    /// Manifests a merge would rewrite, when one is due.
    pub would_merge: Option<usize>,
}

/// After `execution` (which started from `found`), merges the table's small manifests in a
/// metadata-only `replace` when it still has too many, and reports the pass's manifests.
/// `cache` holds what the pass read of the manifests.
pub(crate) async fn upkeep(
    cx: &TableContext<'_>,
    settings: &ExecuteSettings,
    clock: &dyn Clock,
    found: Found,
    execution: &TableExecution,
    cache: &ManifestCache,
) -> ManifestsReport {
    let (policy, retry) = (settings.merge, settings.retry);
    let mut merge = execution.manifest_merge;
    let mut report = ManifestsReport {
        before: found.count,
        after: execution.manifests_after.unwrap_or(found.count),
        ..ManifestsReport::default()
    };
    let table_policy = policy.for_table(cx.table.metadata().properties());
    if table_policy.due(report.after) && !cx.cancel.is_cancelled() {
        let build = |fresh: Table| async move {
            let list = manifest_list(&fresh).await.map_err(|e| e.to_string())?;
            let fresh_policy = policy.for_table(fresh.metadata().properties());
            if fresh_policy.would_merge(&list) {
                Ok(SnapshotChange::merge_manifests(policy))
            } else {
                Err(String::new())
            }
        };
        let id = cx.id;
        match commit_with_retry(cx.catalog, id, cx.fence.as_ref(), clock, retry, cache, build).await
        {
            Ok(done) => match done.result {
                Retried::Committed(commit) => {
                    let merged = commit.merge.unwrap_or_default();
                    info!(
                        target: log_target::SERVICE,
                        tenant = %id.tenant, dataset = %id.dataset, table = %id.table,
                        manifests_before = report.after, manifests_after = commit.manifests,
                        merged = merged.replaced, written = merged.created,
                        snapshot_id = commit.snapshot_id,
                        "Merged manifests"
                    );
                    merge.add(merged);
                    report.after = commit.manifests;
                    report.merge_snapshot_id = Some(commit.snapshot_id);
                }
                Retried::Abandoned(reason) if !reason.is_empty() => {
                    report.error = Some(Failure::new(FailureKind::UnfitTable, reason));
                }
                Retried::Abandoned(_) | Retried::FilesNoLongerLive { .. } => {}
            },
            Err(e) => {
                warn!(
                    target: log_target::SERVICE,
                    tenant = %id.tenant, dataset = %id.dataset, table = %id.table, error = %e,
                    "Manifest merge failed"
                );
                report.error = Some(Failure::of(&e));
            }
        }
    }
    let ManifestMerge { replaced, created, .. } = merge;
    report.rewritten = replaced;
    report.written = created;
    report
}
