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

mod change;
mod commit;
mod error;
mod manifests;
mod producer;
mod summary;

#[cfg(test)]
mod tests;

pub use change::{ChangeKind, SnapshotChange};
pub use commit::{
    CommitError, CommitOutcome, Retried, RetryError, RetryFailure, RetryOutcome, RetryPolicy,
    commit, commit_with_retry, commit_with_retry_cached, swap_metadata,
};
pub use error::SnapshotError;
pub use producer::{Staged, stage, stage_cached};
