//! The `[compactor]` and `[compactor.orphan_cleanup]` sections; `[compactor.sort]` is in `sort.rs`,
//! `[compactor.output]` in `output.rs`, `[compactor.admin]` in `admin.rs`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::admin::AdminConfig;
use super::durations::hours;
use super::output::OutputConfig;
use super::retention::RetentionConfig;
use super::sort::SortConfig;

/// `[compactor]`: file compaction, plus the retention and orphan-cleanup sub-sections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactorConfig {
    /// Whether the compaction job runs at all. Env `SIGNALDB_COMPACTOR_ENABLED`, default `true`.
    pub enabled: bool,
    /// Seconds between compaction runs; at least 1.
    /// Env `SIGNALDB_COMPACTOR_COMPACTION_INTERVAL_SECS`, default `3600`.
    pub compaction_interval_secs: u64,
    /// Plan compactions and report them without rewriting any file.
    /// Env `SIGNALDB_COMPACTOR_DRY_RUN`, default `false`.
    pub dry_run: bool,
    /// TCP port of the Prometheus `/metrics` endpoint; `0` binds a free port.
    /// Env `SIGNALDB_COMPACTOR_METRICS_PORT`, default `9091`.
    pub metrics_port: u16,
    /// Size compaction aims for when writing an output Parquet file; at least 1.
    /// Env `SIGNALDB_COMPACTOR_TARGET_FILE_SIZE_BYTES`, default `134217728` (128 MiB).
    pub target_file_size_bytes: u64,
    /// Files smaller than this are compaction inputs; at least 1 and below
    /// `target_file_size_bytes`, so compaction output is never compacted again.
    /// Env `SIGNALDB_COMPACTOR_SMALL_FILE_THRESHOLD_BYTES`, default `100663296` (96 MiB).
    pub small_file_threshold_bytes: u64,
    /// A partition is compacted only when it holds at least this many small files; at least 2.
    /// Env `SIGNALDB_COMPACTOR_MIN_INPUT_FILES`, default `5`.
    pub min_input_files: usize,
    /// A data file to which at least this many delete files (another engine's `DELETE`)
    /// apply is rewritten with its deletes applied, whatever its size; `0` never (the
    /// default, as Spark's `delete-file-threshold`). Smaller files are rewritten with their
    /// deletes applied whenever their partition is compacted.
    /// Env `SIGNALDB_COMPACTOR_DELETE_FILE_THRESHOLD`, default `0`.
    pub delete_file_threshold: usize,
    /// A data file of which at least this percentage of rows is deleted by position delete
    /// files scoped to it is rewritten with its deletes applied, whatever its size; `0`
    /// never; at most 100 (Spark's `delete-ratio-threshold`, 0.3).
    /// Env `SIGNALDB_COMPACTOR_DELETE_RATIO_THRESHOLD_PERCENT`, default `30`.
    pub delete_ratio_threshold_percent: u64,
    /// Most compaction groups rewritten at the same time, over all tables, and tables worked on
    /// at once by every job; at least 1.
    /// Env `SIGNALDB_COMPACTOR_MAX_CONCURRENT_JOBS`, default `2`.
    pub max_concurrent_jobs: usize,
    /// Partitions holding data younger than this many seconds are left to writers.
    /// Env `SIGNALDB_COMPACTOR_QUIET_PERIOD_SECS`, default `3600`.
    pub quiet_period_secs: u64,
    /// Seconds a shutdown waits for running jobs before abandoning them.
    /// Env `SIGNALDB_COMPACTOR_SHUTDOWN_TIMEOUT_SECS`, default `30`.
    pub shutdown_timeout_secs: u64,
    /// Compaction groups committed together in one `replace` snapshot; `0` commits every group
    /// of a table's pass at once (one commit per table), a positive number commits as groups
    /// finish, so a long pass keeps its progress (Spark's `partial-progress.max-commits`).
    /// Env `SIGNALDB_COMPACTOR_GROUPS_PER_COMMIT`, default `0`.
    pub groups_per_commit: usize,
    /// Most compaction groups one tenant is given in one pass, over all its tables: the
    /// tenant's most urgent groups go first, the rest are deferred to the next pass (reported
    /// as `deferred_groups`, reason `tenant_cap`), so one tenant's backlog cannot hold a pass
    /// for long; `0` is unlimited. Keep it above a tenant's groups per compaction interval
    /// (its tables times the groups of one hour), or that tenant falls behind.
    /// Env `SIGNALDB_COMPACTOR_MAX_GROUPS_PER_TENANT`, default `0`.
    pub max_groups_per_tenant: usize,
    /// Most input bytes one tenant's compaction groups rewrite in one pass, over all its
    /// tables, the same way (a tenant's first group of a pass is never deferred, however
    /// large); `0` is unlimited, anything else at least `target_file_size_bytes`.
    /// Env `SIGNALDB_COMPACTOR_MAX_BYTES_PER_TENANT`, default `0`.
    pub max_bytes_per_tenant: u64,
    /// A table's data manifests are merged once its current snapshot has more than this many
    /// (Java's `commit.manifest.min-count-to-merge`); `0` never merges. A table's own
    /// `commit.manifest.min-count-to-merge` and `commit.manifest-merge.enabled` properties
    /// take precedence. Env `SIGNALDB_COMPACTOR_MANIFEST_MERGE_MIN_COUNT`, default `100`.
    pub manifest_merge_min_count: usize,
    /// Size merged manifests aim for (Java's `commit.manifest.target-size-bytes`, which a table
    /// may set to override it); manifests this large are never merged; at least 1024.
    /// Env `SIGNALDB_COMPACTOR_MANIFEST_TARGET_SIZE_BYTES`, default `8388608` (8 MiB).
    pub manifest_target_size_bytes: u64,
    /// Days the run history in the catalog database keeps a job's pass over a table (what
    /// `compactor status` shows as each job's last pass); at least 1.
    /// Env `SIGNALDB_COMPACTOR_RUN_HISTORY_DAYS`, default `30`.
    pub run_history_days: u64,
    /// Seconds a table's lease lasts unless renewed: the longest a table waits after the
    /// instance working on it died (`kill -9`, a lost node) before another one takes it over;
    /// above `lease_renew_interval_secs`. Env `SIGNALDB_COMPACTOR_LEASE_TTL_SECS`, default `60`.
    pub lease_ttl_secs: u64,
    /// Seconds between two renewals of a lease while its table is worked on; at least 1 and
    /// at most half of `lease_ttl_secs`, so one late renewal never loses a lease.
    /// Env `SIGNALDB_COMPACTOR_LEASE_RENEW_INTERVAL_SECS`, default `15`.
    pub lease_renew_interval_secs: u64,
    /// Seconds a table may go unloaded while its metadata location has not changed since a
    /// pass found nothing to do on it: compaction's and retention's passes leave such a table
    /// alone (they list every table's location in one catalog query) and load it again at
    /// least this often, because partitions close and expire with time alone (orphan cleanup
    /// loads every table); `0` loads every table on every pass. Also how often the run
    /// history records a pass that changed nothing: one row per table and job per interval. Env `SIGNALDB_COMPACTOR_FULL_CHECK_INTERVAL_SECS`, default `3600`.
    pub full_check_interval_secs: u64,
    /// `[compactor.retention]`: partition drops and snapshot expiry.
    pub retention: RetentionConfig,
    /// `[compactor.orphan_cleanup]`: deletion of files no snapshot references.
    pub orphan_cleanup: OrphanCleanupConfig,
    /// `[compactor.sort]`: the order compaction writes rows in.
    pub sort: SortConfig,
    /// `[compactor.output]`: read aids in compacted files and the row-group copy path.
    pub output: OutputConfig,
    /// `[compactor.admin]`: the admin API and web page on the metrics port.
    pub admin: AdminConfig,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        CompactorConfig {
            enabled: true,
            compaction_interval_secs: 3600,
            dry_run: false,
            metrics_port: 9091,
            target_file_size_bytes: 128 * 1024 * 1024,
            small_file_threshold_bytes: 96 * 1024 * 1024,
            min_input_files: 5,
            delete_file_threshold: 0,
            delete_ratio_threshold_percent: 30,
            max_concurrent_jobs: 2,
            quiet_period_secs: 3600,
            shutdown_timeout_secs: 30,
            groups_per_commit: 0,
            max_groups_per_tenant: 0,
            max_bytes_per_tenant: 0,
            manifest_merge_min_count: 100,
            manifest_target_size_bytes: 8 * 1024 * 1024,
            run_history_days: 30,
            lease_ttl_secs: 60,
            lease_renew_interval_secs: 15,
            full_check_interval_secs: 3600,
            retention: RetentionConfig::default(),
            orphan_cleanup: OrphanCleanupConfig::default(),
            sort: SortConfig::default(),
            output: OutputConfig::default(),
            admin: AdminConfig::default(),
        }
    }
}

impl CompactorConfig {
    /// `compaction_interval_secs` as a duration.
    pub fn compaction_interval(&self) -> Duration {
        Duration::from_secs(self.compaction_interval_secs)
    }

    /// `quiet_period_secs` as a duration.
    pub fn quiet_period(&self) -> Duration {
        Duration::from_secs(self.quiet_period_secs)
    }

    /// `lease_ttl_secs` as a duration.
    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_ttl_secs)
    }

    /// `lease_renew_interval_secs` as a duration.
    pub fn lease_renew_interval(&self) -> Duration {
        Duration::from_secs(self.lease_renew_interval_secs)
    }

    /// `full_check_interval_secs` as a duration (zero: every table is loaded on every pass).
    pub fn full_check_interval(&self) -> Duration {
        Duration::from_secs(self.full_check_interval_secs)
    }

    /// `shutdown_timeout_secs` as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
}

/// `[compactor.orphan_cleanup]`: finding and deleting data files no snapshot references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrphanCleanupConfig {
    /// Whether orphan cleanup runs. Env `SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_ENABLED`,
    /// default `false`.
    pub enabled: bool,
    /// Files younger than this many hours are never orphan candidates, so a write still in
    /// flight is never mistaken for an orphan; at least 1.
    /// Env `SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_GRACE_PERIOD_HOURS`, default `24`.
    pub grace_period_hours: u32,
    /// Hours between cleanup runs; at least 1.
    /// Env `SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_CLEANUP_INTERVAL_HOURS`, default `24`.
    pub cleanup_interval_hours: u32,
    /// Files deleted between two progress checkpoints; at least 1.
    /// Env `SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_BATCH_SIZE`, default `1000`.
    pub batch_size: usize,
    /// Identify orphans and report them without deleting.
    /// Env `SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_DRY_RUN`, default `false`.
    pub dry_run: bool,
    /// Re-check each candidate against the newest snapshots just before deleting it.
    /// Env `SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_REVALIDATE_BEFORE_DELETE`, default `true`.
    pub revalidate_before_delete: bool,
    /// Age in hours past which a snapshot still in a table's metadata is reported (a warning
    /// and `snapshots_past_max_age` in the table report): a sign that snapshot expiration is
    /// not keeping up. It never shrinks the reference set: every snapshot still in the
    /// metadata can be read, so the files of all of them are kept whatever their age; expire
    /// snapshots (`[compactor.retention] snapshots_to_keep`) to release them. At least 1.
    /// Env `SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_MAX_SNAPSHOT_AGE_HOURS`, default `720`.
    pub max_snapshot_age_hours: u32,
    /// Seconds between the end of a retention pass (partition drops and snapshot expiration)
    /// and the orphan-cleanup pass over the same tables that follows it, in the daemon and in
    /// `compactor run --once`, when orphan cleanup is enabled; at most 3600.
    /// Env `SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_LIFECYCLE_PAUSE_SECS`, default `5`.
    pub lifecycle_pause_secs: u64,
}

impl Default for OrphanCleanupConfig {
    fn default() -> Self {
        OrphanCleanupConfig {
            enabled: false,
            grace_period_hours: 24,
            cleanup_interval_hours: 24,
            batch_size: 1000,
            dry_run: false,
            revalidate_before_delete: true,
            max_snapshot_age_hours: 720,
            lifecycle_pause_secs: 5,
        }
    }
}

impl OrphanCleanupConfig {
    /// `grace_period_hours` as a duration.
    pub fn grace_period(&self) -> Duration {
        hours(self.grace_period_hours)
    }

    /// `cleanup_interval_hours` as a duration.
    pub fn cleanup_interval(&self) -> Duration {
        hours(self.cleanup_interval_hours)
    }

    /// `max_snapshot_age_hours` as a duration.
    pub fn max_snapshot_age(&self) -> Duration {
        hours(self.max_snapshot_age_hours)
    }

    /// `lifecycle_pause_secs` as a duration.
    pub fn lifecycle_pause(&self) -> Duration {
        Duration::from_secs(self.lifecycle_pause_secs)
    }
}
