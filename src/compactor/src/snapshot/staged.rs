//! A staged change: every file of the table's next metadata written, none visible until the
//! commit swaps the catalog pointer; and what each kind of change reports once committed.

use std::future::Future;

use common::tables::TableId;
use futures::StreamExt;
use iceberg::io::FileIO;
use iceberg::spec::Summary;
use iceberg::table::Table;
use tracing::{debug, info, warn};

use super::change::RemoveSnapshots;
use super::error::SnapshotError;
use super::merge::ManifestMerge;
use crate::live_files::ManifestCache;
use crate::log_target;

/// A change [`super::commit_with_retry`] stages on fresh metadata and commits: a new snapshot
/// ([`super::SnapshotChange`]) or a metadata-only change ([`RemoveSnapshots`]).
pub(crate) trait Change: Send + Sync {
    /// What the staged metadata changes; it becomes the commit's outcome.
    type Effect: Effect;

    /// Writes every file of the change on `table`'s current metadata, `now_ms` being the
    /// time of a new snapshot; on error nothing written is left behind.
    fn stage(
        &self,
        table: &Table,
        now_ms: i64,
        cache: &ManifestCache,
    ) -> impl Future<Output = Result<Staged<Self::Effect>, SnapshotError>> + Send;
}

/// What a staged change does once committed, and how the commit reports it.
pub(crate) trait Effect: Send {
    /// What [`super::commit`] returns for it.
    type Outcome: Send;

    /// The outcome of this effect committed to `id` as `metadata_location`, logged.
    fn committed(self, id: &TableId, metadata_location: String) -> Self::Outcome;
}

/// A change whose files are all written but which no reader can see until [`super::commit`]
/// swaps the catalog pointer from `old_location` to `new_location`.
#[derive(Debug)]
pub(crate) struct Staged<E> {
    /// Metadata location the change was built on (the compare-and-swap's expected value).
    pub old_location: String,
    /// Location of the new metadata JSON.
    pub new_location: String,
    /// Every file written for it: manifests, manifest list, metadata JSON (never data files).
    pub written: Vec<String>,
    /// Metadata files the new metadata drops from its log, deleted once the change is
    /// committed (only when the table sets `write.metadata.delete-after-commit.enabled`).
    pub superseded: Vec<String>,
    /// The table as it is once the change is committed (its metadata as staged).
    pub next: Table,
    /// What the new metadata changes.
    pub effect: E,
    /// The I/O the files were written with, to remove them if the commit loses.
    pub(super) file_io: FileIO,
}

impl<E> Staged<E> {
    /// Removes every file this attempt wrote (best effort: failures are logged, and what is
    /// left is unreferenced and found by orphan cleanup).
    #[cfg(test)]
    pub(crate) async fn discard(&self) {
        remove_files(&self.file_io, &self.written).await;
    }
}

/// The snapshot a staged snapshot change adds.
#[derive(Debug, Clone)]
pub(crate) struct NewSnapshot {
    /// The new snapshot's id.
    pub snapshot_id: i64,
    /// Its summary.
    pub summary: Summary,
    /// Manifests its manifest list holds.
    pub manifests: usize,
    /// What merging small manifests did, when the snapshot merged them.
    pub merge: Option<ManifestMerge>,
}

/// A snapshot made current by [`super::commit`].
#[derive(Debug, Clone)]
pub(crate) struct CommitOutcome {
    /// The new current snapshot.
    pub snapshot_id: i64,
    /// The table's metadata location after the commit (the tests follow it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub metadata_location: String,
    /// Manifests its manifest list holds.
    pub manifests: usize,
    /// What merging small manifests did, when the snapshot merged them.
    pub merge: Option<ManifestMerge>,
}

impl Effect for NewSnapshot {
    type Outcome = CommitOutcome;

    fn committed(self, id: &TableId, metadata_location: String) -> CommitOutcome {
        let Self { snapshot_id, summary, manifests, merge } = self;
        info!(
            target: log_target::ICEBERG,
            table = %id,
            snapshot_id,
            operation = summary.operation.as_str(),
            manifests,
            manifests_merged = merge.map_or(0, |m| m.replaced),
            metadata = %metadata_location,
            "Committed snapshot"
        );
        CommitOutcome { snapshot_id, metadata_location, manifests, merge }
    }
}

/// Snapshots removed from a table's metadata by a committed [`RemoveSnapshots`]; no snapshot
/// was added, so the current one is unchanged.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotsRemoved {
    /// The ids of the removed snapshots.
    pub snapshot_ids: Vec<i64>,
    /// The table's metadata location after the commit.
    pub metadata_location: String,
}

impl Effect for RemoveSnapshots {
    type Outcome = SnapshotsRemoved;

    fn committed(self, id: &TableId, metadata_location: String) -> SnapshotsRemoved {
        debug!(
            target: log_target::ICEBERG,
            table = %id,
            removed = self.snapshot_ids.len(),
            metadata = %metadata_location,
            "Committed snapshot removal"
        );
        SnapshotsRemoved { snapshot_ids: self.snapshot_ids, metadata_location }
    }
}

/// Deletes `locations`, logging (not failing on) each file that cannot be deleted.
pub(super) async fn remove_files(file_io: &FileIO, locations: &[String]) {
    delete_quietly(file_io, locations, "a file of an abandoned snapshot attempt").await;
}

/// Files deleted at the same time by [`delete_quietly`].
const DELETES_AT_ONCE: usize = 16;

/// Deletes `locations` (what they are: `what`), several at once and without asking first
/// whether they exist (a missing file counts as deleted), logging each one that cannot be
/// deleted and going on: what is left is referenced by no snapshot, and orphan cleanup
/// finds it.
pub(crate) async fn delete_quietly(file_io: &FileIO, locations: &[String], what: &str) {
    futures::stream::iter(locations)
        .for_each_concurrent(DELETES_AT_ONCE, |location| async move {
            if let Err(error) = file_io.delete(location).await {
                warn!(target: log_target::ICEBERG, %location, %error, "could not delete {what}");
            }
        })
        .await;
}
