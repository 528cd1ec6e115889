//! Why a compaction group was given up, as a closed set (a leaf module: the rewrite, the
//! batch commit and the execution all name it). Its JSON form is the snake_case name reports
//! have always shown; [`AbandonKind::failure`] says which kinds fail the table and how.

use serde::Serialize;

use crate::failure::FailureKind;
use crate::snapshot::{CommitError, RetryFailure};

/// Why a group was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AbandonKind {
    /// The scan of the inputs could not be planned.
    Scan,
    /// An input is not live in the snapshot the group was planned on.
    MissingInput,
    /// An input could not be read.
    Read,
    /// The output could not be written.
    Write,
    /// The rewrite task ended without a result.
    Task,
    /// The rows could not be sorted.
    Sort,
    /// The partition cannot be written in the table's current spec.
    Partition,
    /// Rows read or written differ from what the manifests allow.
    RowCountMismatch,
    /// Inputs another writer removed since the plan: contention, not a failure.
    FilesNoLongerLive,
    /// The commit declined the group (its change no longer fits the table).
    Declined,
    /// The output would have as many files as the input: nothing gained, not a failure.
    NoGain,
    /// A delete file committed since the plan applies to the inputs: contention.
    NewDeletes,
    /// Every commit attempt lost to other writers: contention, not a failure.
    ConflictsExhausted,
    /// The pass was cancelled (an operator's cancel, a shutdown) before the group's commit.
    Cancelled,
    /// The table could not be reloaded for a commit attempt.
    Load,
    /// The commit could not be staged.
    Stage,
    /// The compare-and-swap lost to another writer.
    Conflict,
    /// The table's lease was lost: the commit was fenced off.
    Fenced,
    /// The compare-and-swap failed and did not apply.
    Failed,
    /// The compare-and-swap failed and whether it applied is unknown.
    Unknown,
}

impl AbandonKind {
    /// The stable name (its JSON form, a log field).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scan => "scan",
            Self::MissingInput => "missing_input",
            Self::Read => "read",
            Self::Write => "write",
            Self::Task => "task",
            Self::Sort => "sort",
            Self::Partition => "partition",
            Self::RowCountMismatch => "row_count_mismatch",
            Self::FilesNoLongerLive => "files_no_longer_live",
            Self::Declined => "declined",
            Self::NoGain => "no_gain",
            Self::NewDeletes => "new_deletes",
            Self::ConflictsExhausted => "conflicts_exhausted",
            Self::Cancelled => "cancelled",
            Self::Load => "load",
            Self::Stage => "stage",
            Self::Conflict => "conflict",
            Self::Fenced => "fenced",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    /// The failure a group given up this way is, or `None` when it is expected contention
    /// or nothing to gain (the next pass tries again; the table does not count as failed).
    pub fn failure(self) -> Option<FailureKind> {
        match self {
            Self::FilesNoLongerLive
            | Self::ConflictsExhausted
            | Self::NoGain
            | Self::NewDeletes
            | Self::Cancelled => None,
            Self::Scan | Self::Read | Self::Write | Self::Load | Self::Stage | Self::Task => {
                Some(FailureKind::Storage)
            }
            Self::MissingInput | Self::RowCountMismatch => Some(FailureKind::CorruptInput),
            Self::Sort => Some(FailureKind::Internal),
            Self::Partition | Self::Declined => Some(FailureKind::UnfitTable),
            Self::Conflict => Some(FailureKind::Conflict),
            Self::Fenced => Some(FailureKind::Fenced),
            Self::Failed | Self::Unknown => Some(FailureKind::Catalog),
        }
    }
}

impl From<&RetryFailure> for AbandonKind {
    fn from(failure: &RetryFailure) -> Self {
        match failure {
            RetryFailure::ConflictsExhausted { .. } => Self::ConflictsExhausted,
            RetryFailure::Load { .. } => Self::Load,
            RetryFailure::Stage { .. } => Self::Stage,
            RetryFailure::Commit(CommitError::Conflict { .. }) => Self::Conflict,
            RetryFailure::Commit(CommitError::Fenced { .. }) => Self::Fenced,
            RetryFailure::Commit(CommitError::Failed { .. }) => Self::Failed,
            RetryFailure::Commit(CommitError::Unknown { .. }) => Self::Unknown,
        }
    }
}

impl std::fmt::Display for AbandonKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for AbandonKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for AbandonKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contention_and_no_gain_are_not_failures_and_the_rest_are() {
        let not = [
            AbandonKind::FilesNoLongerLive,
            AbandonKind::ConflictsExhausted,
            AbandonKind::NoGain,
            AbandonKind::NewDeletes,
            AbandonKind::Cancelled,
        ];
        for kind in not {
            assert_eq!(kind.failure(), None, "{kind}");
        }
        assert_eq!(AbandonKind::Read.failure(), Some(FailureKind::Storage));
        assert_eq!(AbandonKind::Fenced.failure(), Some(FailureKind::Fenced));
        assert_eq!(AbandonKind::RowCountMismatch.failure(), Some(FailureKind::CorruptInput));
    }

    #[test]
    fn the_json_form_is_the_stable_name() {
        let json = serde_json::to_string(&AbandonKind::RowCountMismatch).unwrap();
        assert_eq!(json, "\"row_count_mismatch\"");
        assert!(AbandonKind::NoGain == "no_gain");
    }
}
