//! Why a change could not be staged.

use iceberg::spec::FormatVersion;

use super::change::ChangeKind;

/// Why a change could not be staged. Nothing written by the attempt is left behind.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Files to remove are not live in the current snapshot: another commit removed them, so
    /// the change was planned on a view that no longer holds. The caller abandons it.
    #[error("{} file(s) to remove are no longer live, first: {}", missing.len(), missing.first().map_or("", String::as_str))]
    FilesNoLongerLive {
        /// The paths that are not live.
        missing: Vec<String>,
    },
    /// The change is not a valid snapshot of its kind (names what is wrong).
    #[error("invalid {kind:?} change: {reason}")]
    InvalidChange {
        /// The change's kind.
        kind: ChangeKind,
        /// What is wrong.
        reason: &'static str,
    },
    /// Only format version 1 and 2 tables are written by this producer.
    #[error("table format version {0} is not supported (only v1 and v2)")]
    UnsupportedFormatVersion(FormatVersion),
    /// A manifest names a partition spec the table metadata does not define.
    #[error("manifest {manifest} uses partition spec {spec_id}, unknown to the table metadata")]
    UnknownPartitionSpec {
        /// The manifest.
        manifest: String,
        /// Its spec id.
        spec_id: i32,
    },
    /// A live manifest entry lacks the snapshot id or sequence number it must carry over.
    #[error("manifest {manifest}: entry {path} has no snapshot id or sequence number")]
    IncompleteEntry {
        /// The manifest.
        manifest: String,
        /// The entry's data file.
        path: String,
    },
    /// An added file's partition does not fit the table's default partition spec.
    #[error("added file {path} does not match the table's default partition spec")]
    AddedFileSpec {
        /// The added file.
        path: String,
    },
    /// Reading or writing table metadata failed.
    #[error("{action}: {source}")]
    Iceberg {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        source: Box<iceberg::Error>,
    },
}

impl crate::failure::Classify for SnapshotError {
    fn failure_kind(&self) -> crate::failure::FailureKind {
        use crate::failure::FailureKind;
        match self {
            Self::FilesNoLongerLive { .. } => FailureKind::Conflict,
            Self::InvalidChange { .. } => FailureKind::Internal,
            Self::UnsupportedFormatVersion(_) => FailureKind::UnfitTable,
            Self::UnknownPartitionSpec { .. }
            | Self::IncompleteEntry { .. }
            | Self::AddedFileSpec { .. } => FailureKind::CorruptInput,
            Self::Iceberg { source, .. } => FailureKind::of_iceberg(source),
        }
    }
}

/// Maps an iceberg error to [`SnapshotError::Iceberg`] for `action`.
pub(super) fn iceberg_err(action: &'static str) -> impl Fn(iceberg::Error) -> SnapshotError {
    move |source| SnapshotError::Iceberg { action, source: Box::new(source) }
}
