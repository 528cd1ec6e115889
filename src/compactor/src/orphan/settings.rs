//! What an orphan-cleanup pass needs from `[compactor.orphan_cleanup]`.

use common::config::OrphanCleanupConfig;

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
