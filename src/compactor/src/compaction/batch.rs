//! Committing rewritten groups together: one `replace` snapshot for every group of a batch
//! (by default every group of the table's pass), so a pass costs one commit per table instead
//! of one per partition.
//!
//! The snapshot is rebuilt on the table's fresh metadata at every attempt. Groups whose input
//! files are no longer all live (another compaction or retention removed one), or to whose
//! inputs a delete file committed since the plan applies (another engine's `DELETE`, which
//! removing the inputs would undo), are left out of that attempt and abandoned, their new
//! files deleted; every other group of the batch is committed. The delete files the committed
//! groups applied are removed in the same snapshot once they apply to no live data file
//! (Spark's `remove-dangling-deletes`). When the commit's outcome is not known, no file of
//! the batch is deleted.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use iceberg::table::Table;
use tracing::{error, info};

use super::abandon::AbandonKind;
use super::execute::{BatchResult, GroupResult, GroupRun, GroupStatus, Rewritten, sizes};
use crate::delete_index::{DeleteIndex, reaches};
use crate::live_files::{LiveFile, live_files_cached};
use crate::log_target;
use crate::snapshot::{CommitError, Retried, RetryFailure, SnapshotChange, commit_with_retry};

/// Why a batch commit attempt built no change.
#[derive(Debug)]
enum Declined {
    /// Every group of the batch lost an input or gained delete files.
    NothingLeft,
    /// The manifests could not be read.
    Read(String),
}

/// What keeps a group out of a commit attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Left {
    /// An input file is no longer live.
    InputsGone { missing: usize, first: String },
    /// A delete file committed since the plan applies to an input, `first` among them.
    NewDeletes { first: String },
}

/// The first delete file live in `index` that applies to an input of `r` and that `r`'s
/// rewrite did not apply (one committed since the plan): committing `r` would undo it.
fn new_delete(
    index: &DeleteIndex<'_>,
    by_path: &HashMap<&str, &LiveFile>,
    r: &Rewritten<'_>,
) -> Option<String> {
    let applied: HashSet<&str> = r.group.delete_files.iter().map(String::as_str).collect();
    r.group
        .files
        .iter()
        .filter_map(|p| by_path.get(p.as_str()))
        .flat_map(|f| index.applying_to(f))
        .find(|d| !applied.contains(d.path.as_str()))
        .map(|d| d.path.clone())
}

/// The delete files of `applied` (live in `by_path`) that apply to no data file of `live`
/// once `removed` is gone. The files a commit adds are not looked at: their rewrite applied
/// every delete of its plan, and any other delete abandons the group ([`new_delete`]).
fn dangling(
    live: &[LiveFile],
    by_path: &HashMap<&str, &LiveFile>,
    removed: &BTreeSet<String>,
    applied: &BTreeSet<&str>,
) -> Vec<String> {
    let remaining: Vec<&LiveFile> = live
        .iter()
        .filter(|f| f.content == iceberg::spec::DataContentType::Data)
        .filter(|f| !removed.contains(&f.path))
        .collect();
    applied
        .iter()
        .filter_map(|p| by_path.get(p))
        .filter(|d| !remaining.iter().any(|f| reaches(d, f)))
        .map(|d| d.path.clone())
        .collect()
}

/// The reason of a group that lost `missing` inputs to another commit, `first` among them.
fn inputs_gone(missing: usize, first: &str) -> String {
    format!("{missing} input file(s) were removed by another commit, first: {first}")
}

impl GroupRun<'_, '_> {
    /// Commits `batch` as one `replace` snapshot, keeping on each attempt the groups whose
    /// inputs are still live (merging the table's small manifests when it has too many);
    /// returns the result of every group of the batch and the snapshot, when committed.
    pub(super) async fn commit(&self, batch: Vec<Rewritten<'_>>) -> BatchResult {
        let id = self.cx.id;
        let left_out: Mutex<Vec<Option<Left>>> = Mutex::new(vec![None; batch.len()]);
        // The delete files the last attempt removed as dangling.
        let deletes_removed = Mutex::new(0usize);
        let batch_ref = &batch;
        let build = |fresh: Table| {
            let (left_out, deletes_removed) = (&left_out, &deletes_removed);
            async move {
                let live = live_files_cached(&fresh, self.manifests)
                    .await
                    .map_err(|e| Declined::Read(format!("reading the manifests: {e}")))?;
                let by_path: HashMap<&str, &LiveFile> =
                    live.iter().map(|f| (f.path.as_str(), f)).collect();
                let index = DeleteIndex::new(&live);
                let mut left = left_out.lock().unwrap_or_else(|e| e.into_inner());
                let (mut remove, mut add) = (BTreeSet::new(), Vec::new());
                let mut applied = BTreeSet::new();
                for (i, r) in batch_ref.iter().enumerate() {
                    let missing: Vec<&String> = r
                        .group
                        .files
                        .iter()
                        .filter(|p| !by_path.contains_key(p.as_str()))
                        .collect();
                    left[i] = if let Some(first) = missing.first() {
                        Some(Left::InputsGone { missing: missing.len(), first: (*first).clone() })
                    } else if let Some(first) = new_delete(&index, &by_path, r) {
                        Some(Left::NewDeletes { first })
                    } else {
                        remove.extend(r.group.files.iter().cloned());
                        add.extend(r.output.files.iter().cloned());
                        applied.extend(r.group.delete_files.iter().map(String::as_str));
                        None
                    };
                }
                if add.is_empty() && remove.is_empty() {
                    return Err(Declined::NothingLeft);
                }
                let dangling = dangling(&live, &by_path, &remove, &applied);
                *deletes_removed.lock().unwrap_or_else(|e| e.into_inner()) = dangling.len();
                remove.extend(dangling);
                let change = SnapshotChange::replace(remove, add, Some(self.start_sequence));
                Ok(change.with_manifest_merge(self.settings.merge))
            }
        };
        let retried = commit_with_retry(
            self.cx.catalog,
            id,
            self.cx.fence.as_ref(),
            self.clock,
            self.settings.retry,
            self.manifests,
            &build,
        )
        .await;
        let left = left_out.into_inner().unwrap_or_else(|e| e.into_inner());
        let deletes_removed = deletes_removed.into_inner().unwrap_or_else(|e| e.into_inner());
        // The batch's conflicts are counted once, on its first group.
        let mut conflicts_of = {
            let mut first = true;
            move |conflicts: u32| if std::mem::take(&mut first) { conflicts } else { 0 }
        };
        let mut out = Vec::with_capacity(batch.len());
        let mut commit = None;
        match retried {
            Ok(done) => {
                for (r, left) in batch.iter().zip(left) {
                    let conflicts = conflicts_of(done.conflicts);
                    let result = match (&done.result, left) {
                        (_, Some(Left::InputsGone { missing, first })) => {
                            let reason = inputs_gone(missing, &first);
                            self.abandon_rewritten(
                                r,
                                conflicts,
                                AbandonKind::FilesNoLongerLive,
                                reason,
                            )
                            .await
                        }
                        (_, Some(Left::NewDeletes { first })) => {
                            let reason = format!(
                                "delete file {first} was committed since the plan and applies \
                                 to an input; the group is given up so that the delete stays"
                            );
                            self.abandon_rewritten(r, conflicts, AbandonKind::NewDeletes, reason)
                                .await
                        }
                        (Retried::Committed(commit), None) => {
                            self.committed(r, commit.snapshot_id, conflicts)
                        }
                        (Retried::FilesNoLongerLive { missing }, None) => {
                            let first = missing.first().map_or("", String::as_str);
                            let reason = inputs_gone(missing.len(), first);
                            self.abandon_rewritten(
                                r,
                                conflicts,
                                AbandonKind::FilesNoLongerLive,
                                reason,
                            )
                            .await
                        }
                        (Retried::Abandoned(Declined::Read(reason)), None) => {
                            self.abandon_rewritten(
                                r,
                                conflicts,
                                AbandonKind::Declined,
                                reason.clone(),
                            )
                            .await
                        }
                        (_, None) => {
                            let reason = "no group of the batch could be committed".to_string();
                            self.abandon_rewritten(r, conflicts, AbandonKind::Declined, reason)
                                .await
                        }
                    };
                    out.push(result);
                }
                if let Retried::Committed(done) = done.result {
                    commit = Some(done);
                }
            }
            // The swap errored: the snapshot may be live (applied, then superseded), so the
            // batch's new files are kept; unreferenced, orphan cleanup reclaims them.
            Err(e)
                if matches!(
                    e.source,
                    RetryFailure::Commit(CommitError::Unknown { .. } | CommitError::Failed { .. })
                ) =>
            {
                error!(
                    target: log_target::SERVICE,
                    tenant = %id.tenant, dataset = %id.dataset, table = %id.table,
                    groups = batch.len(), error = %e,
                    "compaction commit outcome not proven; keeping the new files of its groups"
                );
                for r in &batch {
                    out.push(GroupResult {
                        status: GroupStatus::Unknown { reason: e.to_string() },
                        conflicts: conflicts_of(e.conflicts),
                        ..sizes(r.partition, r.group, Some(&r.output))
                    });
                }
            }
            Err(e) => {
                for r in &batch {
                    let conflicts = conflicts_of(e.conflicts);
                    let result = self
                        .abandon_rewritten(
                            r,
                            conflicts,
                            AbandonKind::from(&e.source),
                            e.to_string(),
                        )
                        .await;
                    out.push(result);
                }
            }
        }
        let deletes_removed = if commit.is_some() { deletes_removed } else { 0 };
        BatchResult { groups: out, commit, deletes_removed }
    }

    /// The result of `r`, committed in `snapshot_id`, logged.
    fn committed(&self, r: &Rewritten<'_>, snapshot_id: i64, conflicts: u32) -> GroupResult {
        let id = self.cx.id;
        let result = GroupResult {
            status: GroupStatus::Committed { snapshot_id },
            conflicts,
            ..sizes(r.partition, r.group, Some(&r.output))
        };
        info!(
            target: log_target::SERVICE,
            tenant = %id.tenant, dataset = %id.dataset, table = %id.table,
            hour = %r.partition.hour_label, files_in = result.files_in,
            files_out = result.files_out, rows = result.rows, bytes_in = result.bytes_in,
            bytes_out = result.bytes_out, snapshot_id, conflicts,
            "Compacted partition"
        );
        result
    }

    async fn abandon_rewritten(
        &self,
        r: &Rewritten<'_>,
        conflicts: u32,
        kind: AbandonKind,
        reason: String,
    ) -> GroupResult {
        self.abandon(r.partition, r.group, Some(&r.output), conflicts, kind, reason).await
    }
}
