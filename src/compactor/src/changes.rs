//! What a job's pass changed in a table, in the units every job shares: the run history stores
//! it, `status` and the warning signs read it. Each job's outcome says its own
//! ([`CompactionOutcome::changes`](crate::compaction::CompactionOutcome::changes) and the
//! like), so no reader needs to know the jobs.

use serde::Serialize;

/// What a pass changed in a table (all zero for a dry run or a failure before any commit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// Data files the pass's commits removed (or deleted, for orphan cleanup).
    pub files_removed: u64,
    /// Data files its commits added.
    pub files_added: u64,
    /// Bytes of the removed files.
    pub bytes_removed: u64,
    /// Bytes of the added files.
    pub bytes_added: u64,
    /// Partitions compacted or dropped.
    pub partitions: u64,
    /// Snapshots committed or expired.
    pub snapshots: u64,
}
