//! Making a staged snapshot current with the catalog's compare-and-swap, and retrying a change
//! that lost the race on fresh metadata.

use std::future::Future;
use std::time::Duration;

use common::catalog::{CatalogError, SignalCatalog};
use common::clock::Clock;
use common::tables::TableId;
use iceberg::Catalog;
use iceberg::io::FileIO;
use iceberg::spec::Summary;
use iceberg::table::Table;
use tracing::{debug, warn};

use super::change::SnapshotChange;
use super::error::SnapshotError;
use super::producer::{Staged, remove_files, stage_cached};
use crate::live_files::ManifestCache;

/// A snapshot made current by [`commit`].
#[derive(Debug, Clone)]
pub struct CommitOutcome {
    /// The new current snapshot.
    pub snapshot_id: i64,
    /// Its sequence number.
    pub sequence_number: i64,
    /// The table's metadata location after the commit.
    pub metadata_location: String,
    /// The snapshot's summary.
    pub summary: Summary,
}

/// Why a staged snapshot did not become current.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Another writer committed since the snapshot was staged; nothing changed and the staged
    /// files were removed. Rebuild the change on the reloaded table and try again.
    #[error("table {table}: another writer committed first (expected metadata {expected})")]
    Conflict {
        /// The table.
        table: String,
        /// The metadata location the snapshot was built on.
        expected: String,
    },
    /// The swap returned an error and the reloaded table neither points at the staged metadata
    /// nor lists it in its metadata log, so the change almost certainly did not apply. The
    /// staged files are kept all the same (an applied swap superseded by more commits than the
    /// log holds cannot be ruled out); unreferenced, they are orphan cleanup's to reclaim.
    #[error("table {table}: commit failed: {source}")]
    Failed {
        /// The table.
        table: String,
        /// The catalog error of the swap.
        source: CatalogError,
    },
    /// The swap failed and reloading the table failed too, so whether the snapshot became
    /// current is unknown; the staged files are kept because they may be referenced.
    #[error("table {table}: commit outcome unknown ({source}); reload failed: {reload}")]
    Unknown {
        /// The table.
        table: String,
        /// The catalog error of the swap.
        source: CatalogError,
        /// Why the table could not be reloaded.
        reload: Box<iceberg::Error>,
    },
}

impl CommitError {
    /// A short stable name of the error's kind, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => "conflict",
            Self::Failed { .. } => "failed",
            Self::Unknown { .. } => "unknown",
        }
    }
}

/// Makes `staged` the current metadata of `id` if the table still points at the metadata it
/// was built on. On [`CommitError::Conflict`] and [`CommitError::Failed`] the staged files are
/// removed (never data files); a failed swap is checked by reloading the table, since the
/// database may have applied it before the error reached us.
pub async fn commit(
    catalog: &SignalCatalog,
    id: &TableId,
    staged: Staged,
) -> Result<CommitOutcome, CommitError> {
    let (old, new) = (&staged.old_location, &staged.new_location);
    swap_metadata(catalog, id, old, new, &staged.written, &staged.file_io).await?;
    tracing::info!(
        target: "compactor::iceberg",
        table = %id,
        snapshot_id = staged.snapshot_id,
        operation = staged.summary.operation.as_str(),
        metadata = %staged.new_location,
        "Committed snapshot"
    );
    Ok(outcome(staged))
}

/// Points `id` at the metadata file `new` if, and only if, it still points at `old`: the one
/// compare-and-swap every change of ours goes through, snapshots and metadata-only changes
/// (snapshot expiration) alike. Only when the swap is known to have lost
/// ([`CommitError::Conflict`]: the row no longer held `old`) are the files in `written` (the
/// attempt's metadata, manifests and lists; never data files) removed. A swap that returned an
/// error counts as committed when the reloaded table points at `new` or lists it in its
/// metadata log (applied, then superseded by another writer); otherwise it is
/// [`CommitError::Failed`] or, when the reload fails too, [`CommitError::Unknown`], and the
/// files are kept, since they may be referenced.
pub async fn swap_metadata(
    catalog: &SignalCatalog,
    id: &TableId,
    old: &str,
    new: &str,
    written: &[String],
    file_io: &FileIO,
) -> Result<(), CommitError> {
    let ident = id.ident();
    match catalog.swap_metadata_location(&ident, old, new).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            remove_files(file_io, written).await;
            Err(CommitError::Conflict { table: id.to_string(), expected: old.to_string() })
        }
        // The database may have applied the swap before the error reached us, and other
        // writers may have committed on top since: nothing written is removed unless the swap
        // is known to have lost (above).
        Err(source) => match catalog.catalog().load_table(&ident).await {
            Ok(table) if reaches(&table, new) => Ok(()),
            Ok(_) => Err(CommitError::Failed { table: id.to_string(), source }),
            Err(reload) => Err(CommitError::Unknown {
                table: id.to_string(),
                source,
                reload: Box::new(reload),
            }),
        },
    }
}

/// Whether `table`'s metadata is `location` or descends from it (its metadata log lists it).
pub(super) fn reaches(table: &Table, location: &str) -> bool {
    table.metadata_location() == Some(location)
        || table.metadata().metadata_log().iter().any(|entry| entry.metadata_file == location)
}

fn outcome(staged: Staged) -> CommitOutcome {
    let Staged { new_location, snapshot_id, sequence_number, summary, .. } = staged;
    CommitOutcome { snapshot_id, sequence_number, metadata_location: new_location, summary }
}

/// How often and how patiently [`commit_with_retry`] retries after conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Commit attempts in total, including the first (at least one is made).
    pub max_attempts: u32,
    /// Wait after the first conflict; doubled after each further one.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` after `attempt` (1-based) lost a conflict.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// How a change given to [`commit_with_retry`] ended, short of an error.
#[derive(Debug)]
pub enum Retried<A> {
    /// The change is committed.
    Committed(CommitOutcome),
    /// Files the change removes were removed by another commit: the change was abandoned and
    /// the table is unchanged. Files the caller wrote for it (a compaction's output) are not
    /// referenced by the table and must be deleted by the caller.
    FilesNoLongerLive {
        /// The paths that are no longer live.
        missing: Vec<String>,
    },
    /// The caller's builder declined to build a change on the current table.
    Abandoned(A),
}

/// The end of a [`commit_with_retry`] call and how many conflicts it met on the way.
#[derive(Debug)]
pub struct RetryOutcome<A> {
    /// What happened to the change.
    pub result: Retried<A>,
    /// Commit attempts lost to another writer.
    pub conflicts: u32,
}

/// Why [`commit_with_retry`] failed, with the conflicts met before.
#[derive(Debug, thiserror::Error)]
#[error("{source} (after {conflicts} conflict(s))")]
pub struct RetryError {
    /// Commit attempts lost to another writer.
    pub conflicts: u32,
    /// What failed.
    #[source]
    pub source: RetryFailure,
}

/// The failure inside a [`RetryError`].
#[derive(Debug, thiserror::Error)]
pub enum RetryFailure {
    /// Every attempt allowed by the policy lost to another writer.
    #[error("table {table}: gave up after {attempts} conflicting commit attempts")]
    ConflictsExhausted {
        /// The table.
        table: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The table could not be loaded.
    #[error("loading table {table}: {source}")]
    Load {
        /// The table.
        table: String,
        /// The underlying error.
        source: Box<iceberg::Error>,
    },
    /// The snapshot could not be staged.
    #[error("staging a snapshot of {table}: {source}")]
    Stage {
        /// The table.
        table: String,
        /// The underlying error.
        source: SnapshotError,
    },
    /// The commit failed for a reason other than a conflict.
    #[error(transparent)]
    Commit(CommitError),
}

impl RetryFailure {
    /// A short stable name of the failure's kind, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ConflictsExhausted { .. } => "conflicts_exhausted",
            Self::Load { .. } => "load",
            Self::Stage { .. } => "stage",
            Self::Commit(e) => e.kind(),
        }
    }
}

/// Loads `id`, builds a change on it with `build`, stages and commits it; after a conflict it
/// reloads and starts over, so `build` always sees the metadata the change is staged on and
/// can re-validate it (retention re-evaluates which partitions are expired).
///
/// `build` may decline with `Err(A)`, which ends the call with [`Retried::Abandoned`]. When a
/// file to remove is no longer live, the call ends with [`Retried::FilesNoLongerLive`]; the
/// caller then deletes the data files it wrote for the change, which this module never does.
/// Attempts are bounded by `policy`, waiting with exponential backoff after each conflict.
pub async fn commit_with_retry<F, Fut, A>(
    catalog: &SignalCatalog,
    id: &TableId,
    clock: &dyn Clock,
    policy: RetryPolicy,
    build: F,
) -> Result<RetryOutcome<A>, RetryError>
where
    F: Fn(Table) -> Fut,
    Fut: Future<Output = Result<SnapshotChange, A>>,
{
    commit_with_retry_cached(catalog, id, clock, policy, &ManifestCache::new(), build).await
}

/// [`commit_with_retry`] with a manifest cache shared with other changes to the same table,
/// so that each attempt reads only the manifests no earlier attempt has read.
pub async fn commit_with_retry_cached<F, Fut, A>(
    catalog: &SignalCatalog,
    id: &TableId,
    clock: &dyn Clock,
    policy: RetryPolicy,
    cache: &ManifestCache,
    build: F,
) -> Result<RetryOutcome<A>, RetryError>
where
    F: Fn(Table) -> Fut,
    Fut: Future<Output = Result<SnapshotChange, A>>,
{
    let ident = id.ident();
    let table_name = || id.to_string();
    let attempts = policy.max_attempts.max(1);
    let mut conflicts = 0;
    let fail = |conflicts, source| RetryError { conflicts, source };
    for attempt in 1..=attempts {
        let table = catalog.catalog().load_table(&ident).await.map_err(|e| {
            fail(conflicts, RetryFailure::Load { table: table_name(), source: Box::new(e) })
        })?;
        let change = match build(table.clone()).await {
            Ok(change) => change,
            Err(declined) => {
                return Ok(RetryOutcome { result: Retried::Abandoned(declined), conflicts });
            }
        };
        let staged = match stage_cached(&table, &change, clock.now().timestamp_millis(), cache)
            .await
        {
            Ok(staged) => staged,
            Err(SnapshotError::FilesNoLongerLive { missing }) => {
                let result = Retried::FilesNoLongerLive { missing };
                return Ok(RetryOutcome { result, conflicts });
            }
            Err(source) => {
                return Err(fail(conflicts, RetryFailure::Stage { table: table_name(), source }));
            }
        };
        match commit(catalog, id, staged).await {
            Ok(outcome) => {
                return Ok(RetryOutcome { result: Retried::Committed(outcome), conflicts });
            }
            Err(CommitError::Conflict { .. }) => {
                conflicts += 1;
                if attempt < attempts {
                    let wait = policy.backoff(attempt);
                    debug!(target: "compactor::iceberg", table = %id, attempt, ?wait, "commit conflict, retrying on fresh metadata");
                    tokio::time::sleep(wait).await;
                }
            }
            Err(e) => return Err(fail(conflicts, RetryFailure::Commit(e))),
        }
    }
    warn!(target: "compactor::iceberg", table = %id, attempts, "commit gave up after repeated conflicts");
    Err(fail(conflicts, RetryFailure::ConflictsExhausted { table: table_name(), attempts }))
}
