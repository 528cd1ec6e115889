//! The one path through which SignalDB jobs change a table: `replace` snapshots (compaction)
//! and `delete` snapshots (retention), committed with the SQL catalog's compare-and-swap.
//!
//! iceberg-rust has no rewrite or delete-files action, so this module builds the snapshot
//! itself from the public `spec` API:
//!
//! 1. [`stage`] writes, on the table's current metadata, the rewritten manifests, the manifest
//!    for added files, the manifest list and the new metadata JSON. Nothing is visible yet.
//! 2. [`commit`] swaps the catalog's `metadata_location` from the staged snapshot's parent
//!    metadata to the new one, and removes the staged files when the swap loses.
//! 3. [`commit_with_retry`] reloads, rebuilds the change on the fresh metadata and stages again
//!    after a lost swap, with bounded attempts and exponential backoff.
//!
//! Invariants: data files are never written or deleted here (callers own the files they add;
//! files removed from the table stay on storage for older snapshots until orphan cleanup);
//! every file path removed must be live in the snapshot the change is staged on.

mod cache;
mod commit;
mod manifests;
mod producer;
mod summary;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use iceberg::spec::DataFile;

pub use cache::ManifestCache;
pub use commit::{
    CommitError, CommitOutcome, Retried, RetryError, RetryFailure, RetryOutcome, RetryPolicy,
    commit, commit_with_retry, commit_with_retry_cached, swap_metadata,
};
pub use producer::{SnapshotError, Staged, stage, stage_cached};

/// What a snapshot does, as the Iceberg snapshot summary's `operation` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Files rewritten without changing the table's rows (compaction).
    Replace,
    /// Files removed together with their rows (retention); adds nothing.
    Delete,
}

impl ChangeKind {
    /// The Iceberg operation of a snapshot of this kind.
    pub fn operation(self) -> iceberg::spec::Operation {
        match self {
            Self::Replace => iceberg::spec::Operation::Replace,
            Self::Delete => iceberg::spec::Operation::Delete,
        }
    }
}

/// One change to a table's live data files, applied atomically as one snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotChange {
    /// The snapshot operation.
    pub operation: ChangeKind,
    /// Paths of files to remove; each must be live in the snapshot the change is staged on.
    /// Data files for every kind; a `delete` may also name delete files.
    pub remove: BTreeSet<String>,
    /// New data files, written with the table's default partition spec.
    pub add: Vec<DataFile>,
    /// Data sequence number of the added files; `None` inherits the new snapshot's.
    ///
    /// A compaction passes the sequence number of the snapshot it read its input from (as
    /// Java's `RewriteFiles` does), so that delete files committed after that snapshot still
    /// apply to the rewritten rows.
    pub added_sequence_number: Option<i64>,
}

impl SnapshotChange {
    /// A `replace` of `remove` by `add`, the added files carrying `added_sequence_number`.
    pub fn replace(
        remove: impl IntoIterator<Item = String>,
        add: Vec<DataFile>,
        added_sequence_number: Option<i64>,
    ) -> Self {
        Self {
            operation: ChangeKind::Replace,
            remove: remove.into_iter().collect(),
            add,
            added_sequence_number,
        }
    }

    /// A metadata-only `delete` of `remove`.
    pub fn delete(remove: impl IntoIterator<Item = String>) -> Self {
        Self {
            operation: ChangeKind::Delete,
            remove: remove.into_iter().collect(),
            add: Vec::new(),
            added_sequence_number: None,
        }
    }
}
