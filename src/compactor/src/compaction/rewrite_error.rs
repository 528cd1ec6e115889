//! Why a group could not be rewritten: the one error of the rewrite, the copy and the scan of
//! their inputs (a leaf module, so that each of them can name it).

use iceberg::Error as IcebergError;

use super::abandon::AbandonKind;
use super::sort::SortError;

/// Why a group could not be rewritten. Files written before the failure have been removed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RewriteError {
    /// The scan of the table could not be planned.
    #[error("planning the scan of the input files: {0}")]
    Scan(#[source] Box<IcebergError>),
    /// An input file is not in the snapshot the group was planned on.
    #[error("input file {path} is not a live data file of the table")]
    MissingInput {
        /// The file.
        path: String,
    },
    /// An input file could not be read (missing, corrupt, or not matching the schema).
    #[error("reading input file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: Box<IcebergError>,
    },
    /// Writing the new files failed.
    #[error("writing compacted files under {dir}: {source}")]
    Write {
        /// The directory written to.
        dir: String,
        /// The underlying error.
        #[source]
        source: Box<IcebergError>,
    },
    /// The rewrite's task ended without a result (it panicked); files it wrote may remain,
    /// referenced by no snapshot, for orphan cleanup.
    #[error("the rewrite task failed: {0}")]
    Task(String),
    /// The rows could not be sorted.
    #[error(transparent)]
    Sort(#[from] SortError),
    /// The partition cannot be written in the table's current partition spec.
    #[error("partition {partition}: {reason}")]
    Partition {
        /// The partition's label.
        partition: String,
        /// Why.
        reason: String,
    },
    /// The rows written differ from the rows read, or the rows read from what the inputs'
    /// record counts (less what their delete files may remove) allow.
    #[error(
        "row count mismatch: the manifests list {expected} rows ({min} or more once deletes \
         are applied), {read} were read and {written} written"
    )]
    RowCountMismatch {
        /// Rows the inputs hold according to the manifests.
        expected: u64,
        /// Fewest rows that may remain once their delete files are applied.
        min: u64,
        /// Rows read.
        read: u64,
        /// Rows written.
        written: u64,
    },
}

impl RewriteError {
    /// Why the group is given up, as its report names it.
    pub(crate) fn kind(&self) -> AbandonKind {
        match self {
            Self::Scan(_) => AbandonKind::Scan,
            Self::MissingInput { .. } => AbandonKind::MissingInput,
            Self::Read { .. } => AbandonKind::Read,
            Self::Write { .. } => AbandonKind::Write,
            Self::Task(_) => AbandonKind::Task,
            Self::Sort(_) => AbandonKind::Sort,
            Self::Partition { .. } => AbandonKind::Partition,
            Self::RowCountMismatch { .. } => AbandonKind::RowCountMismatch,
        }
    }
}
