//! The log targets, one per area of the compactor: what `RUST_LOG` filters on
//! (`docs/operations.md` lists them). Every log line names one of these.

/// The service, the schedulers, the table passes and compaction.
pub const SERVICE: &str = "compactor";
/// Retention: cutoffs, partition drops, snapshot expiration.
pub const RETENTION: &str = "compactor::retention";
/// Orphan cleanup: reference set, scan, candidates, deletions.
pub const ORPHAN: &str = "compactor::orphan";
/// The snapshot module: manifests and catalog commits.
pub const ICEBERG: &str = "compactor::iceberg";
