//! Snapshot expiration: remove all but the `snapshots_to_keep` most recent snapshots from a
//! table's metadata, never the current one and never one a branch or tag points to.
//!
//! iceberg-rust's `ExpireSnapshotsAction` is not used: it reads the system clock, applies
//! Java's per-branch age rules (a 5-day default age cutoff), ages out refs on its own, and
//! commits through the catalog client rather than our compare-and-swap. Instead expiration is
//! a metadata-only [`RemoveSnapshots`] committed through the snapshot module's
//! [`commit_with_retry`], the path and compare-and-swap snapshots are committed with: the new
//! metadata is built with `TableMetadataBuilder::remove_snapshots`, a lost swap removes the
//! written file, and the plan is made again on reloaded metadata. No data, manifest or
//! manifest-list file is deleted here: orphan cleanup does that.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use common::catalog::SignalCatalog;
use common::clock::Clock;
use common::tables::TableId;
use iceberg::spec::{MAIN_BRANCH, SnapshotReference, TableMetadata};
use iceberg::table::Table;
use serde::{Deserialize, Serialize};
use tracing::debug;

use super::error::RetentionError;
use super::policy::format_utc;
use crate::live_files::ManifestCache;
use crate::log_target;
use crate::snapshot::{
    RemoveSnapshots, Retried, RetryError, RetryFailure, RetryPolicy, SnapshotError,
    commit_with_retry,
};
use crate::state::Fence;

/// Milliseconds in one day.
const MS_PER_DAY: i64 = 86_400_000;

/// One snapshot as expiration sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Its id.
    pub snapshot_id: i64,
    /// Its sequence number.
    pub sequence_number: i64,
    /// When it was committed, in milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// A snapshot removed (or, in a dry run, to be removed) from a table's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredSnapshot {
    /// Its id.
    pub snapshot_id: i64,
    /// Its sequence number.
    pub sequence_number: i64,
    /// When it was committed (UTC).
    pub committed_at: String,
    /// Whole days between its commit and the pass (0 for a snapshot younger than a day).
    pub age_days: i64,
}

impl ExpiredSnapshot {
    /// `info` seen at `now`.
    pub fn new(info: SnapshotInfo, now: DateTime<Utc>) -> Self {
        let committed = DateTime::from_timestamp_millis(info.timestamp_ms).unwrap_or_default();
        Self {
            snapshot_id: info.snapshot_id,
            sequence_number: info.sequence_number,
            committed_at: format_utc(committed),
            age_days: (now.timestamp_millis() - info.timestamp_ms).div_euclid(MS_PER_DAY).max(0),
        }
    }
}

/// The snapshots to expire, oldest first: every snapshot except the `keep` most recent (by
/// sequence number, then timestamp, then id; never by position in the metadata) and except
/// those in `protected`.
pub(crate) fn select(
    snapshots: &[SnapshotInfo],
    protected: &BTreeSet<i64>,
    keep: usize,
) -> Vec<SnapshotInfo> {
    let mut newest_first = snapshots.to_vec();
    newest_first
        .sort_by_key(|s| std::cmp::Reverse((s.sequence_number, s.timestamp_ms, s.snapshot_id)));
    let mut out: Vec<SnapshotInfo> = newest_first
        .into_iter()
        .skip(keep)
        .filter(|s| !protected.contains(&s.snapshot_id))
        .collect();
    out.reverse();
    out
}

/// Every branch and tag of `md` (name → snapshot id), `main` included.
///
/// The metadata type keeps its refs private; its serialized form (what is written to the
/// metadata file) carries them.
pub(crate) fn refs(md: &TableMetadata) -> Result<BTreeMap<String, i64>, RetentionError> {
    #[derive(Deserialize)]
    struct Refs {
        #[serde(default)]
        refs: BTreeMap<String, SnapshotReference>,
    }
    let invalid = |e: serde_json::Error| RetentionError::Iceberg {
        action: "read the table's refs",
        source: Box::new(iceberg::Error::new(iceberg::ErrorKind::DataInvalid, e.to_string())),
    };
    let value = serde_json::to_value(md).map_err(invalid)?;
    let parsed: Refs = serde_json::from_value(value).map_err(invalid)?;
    Ok(parsed.refs.into_iter().map(|(name, r)| (name, r.snapshot_id)).collect())
}

/// The snapshots of `md` to expire keeping `keep` (at least one).
///
/// With `pending_snapshot`, the plan is made as if one more snapshot (a partition drop not yet
/// committed) became current first: it takes one of the kept places, `main` points at it, and
/// the present current snapshot is kept only if it is among the most recent or another ref
/// points to it. A dry run uses this to report what the real pass would expire.
pub(crate) fn plan(
    md: &TableMetadata,
    keep: usize,
    pending_snapshot: bool,
) -> Result<Vec<SnapshotInfo>, RetentionError> {
    let keep = keep.max(1);
    let snapshots: Vec<SnapshotInfo> = md
        .snapshots()
        .map(|s| SnapshotInfo {
            snapshot_id: s.snapshot_id(),
            sequence_number: s.sequence_number(),
            timestamp_ms: s.timestamp_ms(),
        })
        .collect();
    let mut protected: BTreeSet<i64> = refs(md)?
        .into_iter()
        .filter(|(name, _)| !(pending_snapshot && name == MAIN_BRANCH))
        .map(|(_, id)| id)
        .collect();
    if pending_snapshot {
        return Ok(select(&snapshots, &protected, keep - 1));
    }
    protected.extend(md.current_snapshot_id());
    Ok(select(&snapshots, &protected, keep))
}

/// What an expiration did.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExpireOutcome {
    /// The expired snapshots, oldest first.
    pub expired: Vec<SnapshotInfo>,
    /// Snapshots left in the metadata.
    pub kept: usize,
    /// Commit attempts lost to another writer.
    pub conflicts: u32,
}

/// Why the expiration's builder declined to produce a change.
#[derive(Debug)]
enum Declined {
    /// Every snapshot is kept.
    NothingToExpire,
    /// The plan could not be made.
    Plan(RetentionError),
}

/// Expires the snapshots of `id` beyond the `keep` most recent: a metadata-only change
/// committed through the snapshot module's [`commit_with_retry`], planned again on fresh
/// metadata at each attempt; commits nothing when nothing is to expire. `files` is the run's
/// cache of the table's files (a table it holds is not read again).
pub(crate) async fn expire(
    catalog: &SignalCatalog,
    id: &TableId,
    fence: Option<&Fence>,
    clock: &dyn Clock,
    keep: usize,
    retry: RetryPolicy,
    files: &ManifestCache,
) -> Result<ExpireOutcome, RetentionError> {
    let last = Mutex::new((Vec::new(), 0));
    let build = |table: Table| {
        let last = &last;
        async move {
            let md = table.metadata();
            let expired = plan(md, keep, false).map_err(Declined::Plan)?;
            let kept = md.snapshots().len() - expired.len();
            let snapshot_ids: Vec<i64> = expired.iter().map(|s| s.snapshot_id).collect();
            *last.lock().expect("plan lock") = (expired, kept);
            if snapshot_ids.is_empty() {
                return Err(Declined::NothingToExpire);
            }
            Ok(RemoveSnapshots { snapshot_ids })
        }
    };
    let outcome = commit_with_retry(catalog, id, fence, clock, retry, files, &build)
        .await
        .map_err(expire_error)?;
    let conflicts = outcome.conflicts;
    let (expired, kept) = std::mem::take(&mut *last.lock().expect("plan lock"));
    match outcome.result {
        Retried::Committed(removed) => {
            debug!(target: log_target::RETENTION, table = %id, metadata = %removed.metadata_location, expired = removed.snapshot_ids.len(), "Committed snapshot expiration");
            Ok(ExpireOutcome { expired, kept, conflicts })
        }
        Retried::Abandoned(Declined::NothingToExpire) => {
            Ok(ExpireOutcome { expired, kept, conflicts })
        }
        Retried::Abandoned(Declined::Plan(e)) => Err(e),
        // A metadata-only change removes no file, so staging never finds one gone.
        Retried::FilesNoLongerLive { missing } => {
            Err(RetentionError::ExpireStage(SnapshotError::FilesNoLongerLive { missing }))
        }
    }
}

/// The retention error of a failed expiration commit.
fn expire_error(e: RetryError) -> RetentionError {
    match e.source {
        RetryFailure::ConflictsExhausted { attempts, .. } => {
            RetentionError::ExpireConflicts { attempts }
        }
        RetryFailure::Load { source, .. } => {
            RetentionError::Iceberg { action: "load table", source }
        }
        RetryFailure::Stage { source, .. } => RetentionError::ExpireStage(source),
        RetryFailure::Commit(e) => RetentionError::Expire(e),
    }
}
