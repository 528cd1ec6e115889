//! Retrying a change that lost the compare-and-swap: reload, rebuild on fresh metadata, stage
//! and commit again, with bounded attempts and exponential backoff.

use std::future::Future;
use std::time::Duration;

use common::catalog::SignalCatalog;
use common::clock::Clock;
use common::tables::TableId;
use iceberg::table::Table;
use tracing::{debug, warn};

use super::commit::{CommitError, commit};
use super::error::SnapshotError;
use super::staged::{Change, CommitOutcome, Effect};
use crate::live_files::ManifestCache;
use crate::log_target;
use crate::state::Fence;

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

/// How a change given to [`commit_with_retry`] ended, short of an error; `O` is what the
/// commit of the change reports ([`CommitOutcome`] for a new snapshot).
#[derive(Debug)]
pub(crate) enum Retried<A, O = CommitOutcome> {
    /// The change is committed.
    Committed(O),
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
pub(crate) struct RetryOutcome<A, O = CommitOutcome> {
    /// What happened to the change.
    pub result: Retried<A, O>,
    /// Commit attempts lost to another writer.
    pub conflicts: u32,
}

/// Why [`commit_with_retry`] failed, with the conflicts met before.
#[derive(Debug, thiserror::Error)]
#[error("{source} (after {conflicts} conflict(s))")]
pub(crate) struct RetryError {
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
    /// The change could not be staged.
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

impl crate::failure::Classify for RetryError {
    fn failure_kind(&self) -> crate::failure::FailureKind {
        self.source.failure_kind()
    }
}

impl crate::failure::Classify for RetryFailure {
    fn failure_kind(&self) -> crate::failure::FailureKind {
        use crate::failure::FailureKind;
        match self {
            Self::ConflictsExhausted { .. } => FailureKind::Conflict,
            Self::Load { source, .. } => FailureKind::of_iceberg(source),
            Self::Stage { source, .. } => source.failure_kind(),
            Self::Commit(e) => e.failure_kind(),
        }
    }
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

/// What committing a change of type `C` reports.
pub(crate) type Outcome<C> = <<C as Change>::Effect as Effect>::Outcome;

/// Loads `id`, builds a change on it with `build` (a new snapshot or a metadata-only change),
/// stages and commits it; after a conflict it reloads and starts over, so `build` always sees
/// the metadata the change is staged on and can re-validate it (retention re-evaluates which
/// partitions are expired and which snapshots to expire).
///
/// `build` may decline with `Err(A)`, which ends the call with [`Retried::Abandoned`]. When a
/// file to remove is no longer live, the call ends with [`Retried::FilesNoLongerLive`]; the
/// caller then deletes the data files it wrote for the change, which this module never does.
/// Attempts are bounded by `policy`, waiting with exponential backoff after each conflict.
///
/// `cache` is shared with other changes to the same table, so that each attempt reads only
/// the manifests no earlier attempt has read.
pub(crate) async fn commit_with_retry<F, Fut, C, A>(
    catalog: &SignalCatalog,
    id: &TableId,
    fence: Option<&Fence>,
    clock: &dyn Clock,
    policy: RetryPolicy,
    cache: &ManifestCache,
    build: F,
) -> Result<RetryOutcome<A, Outcome<C>>, RetryError>
where
    F: Fn(Table) -> Fut,
    Fut: Future<Output = Result<C, A>>,
    C: Change,
{
    let ident = id.ident();
    let table_name = || id.to_string();
    let attempts = policy.max_attempts.max(1);
    let mut conflicts = 0;
    let fail = |conflicts, source| RetryError { conflicts, source };
    for attempt in 1..=attempts {
        let table = cache.current(catalog, &ident).await.map_err(|e| {
            fail(conflicts, RetryFailure::Load { table: table_name(), source: Box::new(e) })
        })?;
        let change = match build(table.clone()).await {
            Ok(change) => change,
            Err(declined) => {
                return Ok(RetryOutcome { result: Retried::Abandoned(declined), conflicts });
            }
        };
        let staged = match change.stage(&table, clock.now().timestamp_millis(), cache).await {
            Ok(staged) => staged,
            Err(SnapshotError::FilesNoLongerLive { missing }) => {
                let result = Retried::FilesNoLongerLive { missing };
                return Ok(RetryOutcome { result, conflicts });
            }
            Err(source) => {
                return Err(fail(conflicts, RetryFailure::Stage { table: table_name(), source }));
            }
        };
        let next = staged.next.clone();
        match commit(catalog, id, fence, staged).await {
            Ok(outcome) => {
                // Later commits and reads of this run start from it without reading it back.
                cache.remember_table(&next);
                return Ok(RetryOutcome { result: Retried::Committed(outcome), conflicts });
            }
            Err(CommitError::Conflict { .. }) => {
                conflicts += 1;
                if attempt < attempts {
                    let wait = policy.backoff(attempt);
                    debug!(target: log_target::ICEBERG, table = %id, attempt, ?wait, "commit conflict, retrying on fresh metadata");
                    tokio::time::sleep(wait).await;
                }
            }
            Err(e) => return Err(fail(conflicts, RetryFailure::Commit(e))),
        }
    }
    warn!(target: log_target::ICEBERG, table = %id, attempts, "commit gave up after repeated conflicts");
    Err(fail(conflicts, RetryFailure::ConflictsExhausted { table: table_name(), attempts }))
}
