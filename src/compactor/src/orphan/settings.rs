//! What an orphan-cleanup pass needs from `[compactor.orphan_cleanup]` (made by the assembly).

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
