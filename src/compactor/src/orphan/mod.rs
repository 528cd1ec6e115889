//! Orphan-file cleanup: delete files under a table's location that no snapshot references.
//!
//! Per table, four phases (see `docs/orphan-cleanup.md`):
//!
//! 1. [`reference`]: every file reachable from the table metadata, from every snapshot still
//!    in it whatever its age, plus manifests, manifest lists, metadata files and statistics;
//! 2. [`scan`]: a streaming listing under the table's location only;
//! 3. [`candidates`]: listed files the reference set does not reach, older than the grace
//!    period, with paths compared in one normalised spelling ([`paths`]);
//! 4. [`delete`]: batches, each revalidated against freshly loaded metadata and followed by a
//!    [`checkpoint`] in the catalog database.
//!
//! [`safety`] refuses tables whose location overlaps another table's or leaves the warehouse.
//! [`OrphanCleanupStep`] is the job's work on one table; its typed outcome is
//! [`report::OrphanReport`].

pub mod candidates;
pub mod checkpoint;
pub mod delete;
mod error;
pub mod paths;
pub mod reference;
pub mod report;
pub mod safety;
pub mod scan;
mod step;

#[cfg(test)]
mod tests;

use common::config::OrphanCleanupConfig;

pub use error::OrphanError;
pub use step::{OrphanCleanupStep, Plan};

/// Log target of everything orphan cleanup logs.
pub const LOG_TARGET: &str = "compactor::orphan";

/// What a cleanup pass needs from `[compactor.orphan_cleanup]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrphanSettings {
    /// Files modified more recently than this are never candidates.
    pub grace_period: chrono::Duration,
    /// Candidates deleted between two checkpoints.
    pub batch_size: usize,
    /// Reload metadata and re-check candidates before each batch.
    pub revalidate_before_delete: bool,
    /// Snapshots older than this are reported (their files are still referenced).
    pub max_snapshot_age: chrono::Duration,
    /// A checkpoint not updated for this long is ignored and the run starts over.
    pub checkpoint_max_age: chrono::Duration,
}

impl From<&OrphanCleanupConfig> for OrphanSettings {
    fn from(c: &OrphanCleanupConfig) -> Self {
        let OrphanCleanupConfig {
            enabled: _,
            grace_period_hours,
            cleanup_interval_hours,
            batch_size,
            dry_run: _,
            revalidate_before_delete,
            max_snapshot_age_hours,
            lifecycle_pause_secs: _,
        } = c;
        let hours = |h: &u32| chrono::Duration::hours(i64::from(*h));
        Self {
            grace_period: hours(grace_period_hours),
            batch_size: (*batch_size).max(1),
            revalidate_before_delete: *revalidate_before_delete,
            max_snapshot_age: hours(max_snapshot_age_hours),
            // One scheduled interval: a crash is resumed by the next pass, while a checkpoint
            // older than a whole cycle belongs to a run nobody is coming back for.
            checkpoint_max_age: hours(cleanup_interval_hours),
        }
    }
}
