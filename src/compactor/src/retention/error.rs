//! Why part of a retention pass over one table failed.

use crate::snapshot::{CommitError, RetryError, RetryFailure, SnapshotError};

/// A failed partition drop or snapshot expiration; the table is left as the catalog points at
/// it (a losing attempt's files are removed).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RetentionError {
    /// Reading the table's manifests or metadata failed.
    #[error("{action}: {source}")]
    Iceberg {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        source: Box<iceberg::Error>,
    },
    /// The `delete` snapshot dropping the expired partitions was not committed.
    #[error("dropping expired partitions: {0}")]
    Drop(#[source] RetryError),
    /// Files the evaluation found live were not live when the drop was staged on the same
    /// metadata (the manifests disagree with themselves); nothing was committed.
    #[error(
        "dropping expired partitions: {} file(s) found live were not live when staging, first: {}",
        missing.len(),
        missing.first().map_or("", String::as_str)
    )]
    DropUnstable {
        /// The paths.
        missing: Vec<String>,
    },
    /// The catalog's compare-and-swap of an expiration failed (not a lost race).
    #[error("expiring snapshots: {0}")]
    Expire(#[source] CommitError),
    /// The metadata without the expired snapshots could not be written.
    #[error("expiring snapshots: {0}")]
    ExpireStage(#[source] SnapshotError),
    /// Every expiration attempt allowed lost to another writer.
    #[error("expiring snapshots: gave up after {attempts} conflicting commit attempts")]
    ExpireConflicts {
        /// Attempts made.
        attempts: u32,
    },
}

impl crate::failure::Classify for RetentionError {
    fn failure_kind(&self) -> crate::failure::FailureKind {
        use crate::failure::FailureKind;
        match self {
            Self::Iceberg { source, .. } => FailureKind::of_iceberg(source),
            Self::Drop(e) => e.failure_kind(),
            Self::DropUnstable { .. } => FailureKind::CorruptInput,
            Self::Expire(e) => e.failure_kind(),
            Self::ExpireStage(e) => e.failure_kind(),
            Self::ExpireConflicts { .. } => FailureKind::Conflict,
        }
    }
}

impl RetentionError {
    /// Whether every commit attempt lost to other writers: the table is as it was, and the
    /// next pass tries again. Not a failure, as for compaction: contention is expected on
    /// tables being written to.
    pub(crate) fn is_contention(&self) -> bool {
        match self {
            Self::Drop(e) => matches!(e.source, RetryFailure::ConflictsExhausted { .. }),
            Self::ExpireConflicts { .. } => true,
            Self::Iceberg { .. }
            | Self::Expire(_)
            | Self::ExpireStage(_)
            | Self::DropUnstable { .. } => false,
        }
    }

    /// Maps an iceberg error to [`RetentionError::Iceberg`] for `action`.
    pub(crate) fn iceberg(action: &'static str) -> impl Fn(iceberg::Error) -> Self {
        move |source| Self::Iceberg { action, source: Box::new(source) }
    }
}
