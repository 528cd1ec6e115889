//! The one path through which SignalDB jobs change a table: `replace` snapshots (compaction),
//! `delete` snapshots (retention's partition drop) and metadata-only removal of snapshots
//! (retention's expiration), committed with the SQL catalog's compare-and-swap.
//!
//! iceberg-rust has no rewrite or delete-files action, so this module builds the snapshot
//! itself from the public `spec` API:
//!
//! 1. [`stage`] writes, on the table's current metadata, the touched manifests' survivors, one
//!    manifest of the removed entries, the manifest for added files, merged manifests when
//!    the table has too many small ones (`merge`), the manifest list and the new metadata
//!    JSON; [`stage_removal`] writes
//!    only the new metadata JSON. Nothing is visible yet: a [`Staged`] change of either kind.
//! 2. [`commit`] swaps the catalog's `metadata_location` from the metadata the change was
//!    staged on to the new one, and removes the staged files when the swap loses.
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
mod merge;
mod merge_policy;
mod metadata;
mod producer;
mod retry;
mod staged;
mod summary;

#[cfg(test)]
mod tests;

pub(crate) use change::{RemoveSnapshots, SnapshotChange};
pub(crate) use commit::CommitError;
#[cfg(test)]
pub(crate) use commit::commit;
pub(crate) use error::SnapshotError;
pub(crate) use merge::ManifestMerge;
#[cfg(test)]
pub(crate) use merge_policy::MERGE_ENABLED;
pub(crate) use merge_policy::MergePolicy;
#[cfg(test)]
pub(crate) use metadata::stage_removal;
#[cfg(test)]
pub(crate) use producer::{stage, stage_cached};
pub(crate) use retry::{Retried, RetryError, RetryFailure, RetryPolicy, commit_with_retry};
pub(crate) use staged::{CommitOutcome, delete_quietly};
