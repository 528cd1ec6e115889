//! Dropping a table's expired partitions: one metadata-only `delete` snapshot that marks every
//! data file of those partitions DELETED, committed through the shared snapshot path.
//!
//! The change is rebuilt on freshly loaded metadata at every commit attempt, so a partition is
//! dropped only if it is expired in the snapshot the delete is staged on, and files another
//! writer appended meanwhile are carried over untouched. What each manifest lists is
//! remembered across attempts, so an attempt after a conflict reads only the manifests added
//! since.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use common::catalog::SignalCatalog;
use common::clock::Clock;
use common::tables::TableId;
use iceberg::table::Table;

use super::error::RetentionError;
use super::partitions::{Evaluation, evaluate};
use crate::live_files::{ManifestCache, live_files_cached};
use crate::snapshot::{Retried, RetryPolicy, SnapshotChange, commit_with_retry};
use crate::state::Fence;

/// What a drop did.
#[derive(Debug, Clone, Default)]
pub(crate) struct DropOutcome {
    /// The evaluation the committed change (or the decision to change nothing) was built on.
    pub evaluation: Evaluation,
    /// The `delete` snapshot, when one was committed.
    pub snapshot_id: Option<i64>,
    /// Commit attempts lost to another writer.
    pub conflicts: u32,
}

/// Why the builder declined to produce a change.
#[derive(Debug)]
enum Declined {
    /// No partition is expired (or every expired one is skipped).
    NothingExpired,
    /// The manifests could not be read.
    Read(iceberg::Error),
}

/// Drops every partition of `id` whose hour ends at or before `cutoff`, in one `delete`
/// snapshot; commits nothing when none is expired. `manifests` is the run's cache of the
/// table's files.
pub(crate) async fn drop_expired(
    catalog: &SignalCatalog,
    id: &TableId,
    fence: Option<&Fence>,
    clock: &dyn Clock,
    retry: RetryPolicy,
    cutoff: DateTime<Utc>,
    manifests: &ManifestCache,
) -> Result<DropOutcome, RetentionError> {
    let last = Mutex::new(Evaluation::default());
    let build = |table: Table| {
        let last = &last;
        async move {
            let files = live_files_cached(&table, manifests).await.map_err(Declined::Read)?;
            let evaluation = evaluate(&files, cutoff);
            let paths = evaluation.paths_to_drop();
            *last.lock().expect("evaluation lock") = evaluation;
            if paths.is_empty() {
                return Err(Declined::NothingExpired);
            }
            Ok(SnapshotChange::delete(paths))
        }
    };
    let outcome = commit_with_retry(catalog, id, fence, clock, retry, manifests, &build)
        .await
        .map_err(RetentionError::Drop)?;
    let conflicts = outcome.conflicts;
    let evaluation = std::mem::take(&mut *last.lock().expect("evaluation lock"));
    match outcome.result {
        Retried::Committed(commit) => {
            Ok(DropOutcome { evaluation, snapshot_id: Some(commit.snapshot_id), conflicts })
        }
        Retried::Abandoned(Declined::NothingExpired) => {
            Ok(DropOutcome { evaluation, snapshot_id: None, conflicts })
        }
        Retried::Abandoned(Declined::Read(e)) => Err(RetentionError::iceberg("read manifests")(e)),
        // Each attempt evaluates and stages on the same loaded metadata, so the files it
        // removes are live in it; reaching this means the manifests disagree with themselves.
        Retried::FilesNoLongerLive { missing } => Err(RetentionError::DropUnstable { missing }),
    }
}
