//! Each job's settings, made from the configuration in one place ([`JobSettings`]), and
//! [`PassSettings`]: which components a pass is made of. Every conversion names every field of
//! the section it reads (exhaustive destructuring), so a key added to the configuration does
//! not compile until it is used here or said to be read elsewhere.

use std::sync::Arc;

use common::config::{CompactorConfig, OrphanCleanupConfig, OutputConfig, SortConfig};

use crate::compaction::{
    CompactionSettings, ExecuteSettings, PlanSettings, RewriteSettings, SortPolicy, SortSettings,
    TenantCap,
};
use crate::metrics::Metrics;
use crate::orphan::OrphanSettings;
use crate::pass::{
    AfterTable, Components, Gauges, History, LeaseSettings, SkipUnchanged, TableSource, Warnings,
};
use crate::retention::RetentionSettings;
use crate::snapshot::{MergePolicy, RetryPolicy};
use crate::state;
use common::clock::Clock;

/// Every job's settings, made from `[compactor]` at once: the one place each of its keys is
/// named.
pub(crate) struct JobSettings {
    /// The compaction step's.
    pub(crate) compaction: CompactionSettings,
    /// The retention step's.
    pub(crate) retention: RetentionSettings,
    /// How every job's pass goes over its tables (leases are added by the assembly).
    pub(crate) pass: PassSettings,
}

impl From<&CompactorConfig> for JobSettings {
    fn from(c: &CompactorConfig) -> Self {
        let CompactorConfig {
            // Read by JobSpec (whether and when each job runs) and by the service.
            enabled: _,
            compaction_interval_secs: _,
            dry_run: _,
            metrics_port: _,
            shutdown_timeout_secs: _,
            // Leases are made by the assembly, for its instance.
            lease_ttl_secs: _,
            lease_renew_interval_secs: _,
            full_check_interval_secs: _,
            // Orphan cleanup's section has its own conversion.
            orphan_cleanup: _,
            // Read by the service: the admin API and its page.
            admin: _,
            run_history_days: _,
            quiet_period_secs: _,
            target_file_size_bytes,
            small_file_threshold_bytes,
            min_input_files,
            delete_file_threshold,
            delete_ratio_threshold_percent,
            max_concurrent_jobs,
            groups_per_commit,
            max_groups_per_tenant,
            max_bytes_per_tenant,
            manifest_merge_min_count,
            manifest_target_size_bytes,
            retention,
            sort,
            output,
        } = c;
        let OutputConfig {
            trace_id_bloom_filter,
            copy_row_groups: _,
            copy_min_row_group_bytes: _,
            tuned_encodings,
        } = output;
        let plan = PlanSettings {
            target_file_size_bytes: *target_file_size_bytes,
            small_file_threshold_bytes: *small_file_threshold_bytes,
            min_input_files: *min_input_files,
            quiet_period: c.quiet_period(),
            copy_min_row_group_bytes: output.copy_min_row_group_bytes(),
            delete_file_threshold: *delete_file_threshold,
            delete_ratio_percent: *delete_ratio_threshold_percent,
        };
        let execute = ExecuteSettings {
            rewrite: RewriteSettings {
                sort: SortSettings::from(sort),
                trace_id_bloom_filter: *trace_id_bloom_filter,
                copy_min_row_group_bytes: output.copy_min_row_group_bytes(),
                tuned_encodings: *tuned_encodings,
                ..RewriteSettings::new(*target_file_size_bytes)
            },
            max_concurrent_groups: *max_concurrent_jobs,
            retry: RetryPolicy::default(),
            groups_per_commit: *groups_per_commit,
            merge: MergePolicy {
                min_count: *manifest_merge_min_count,
                target_size_bytes: *manifest_target_size_bytes,
            },
        };
        Self {
            compaction: CompactionSettings {
                plan,
                sort: SortPolicy::from(sort),
                execute,
                tenant_cap: TenantCap {
                    max_groups: *max_groups_per_tenant,
                    max_bytes: *max_bytes_per_tenant,
                },
            },
            retention: RetentionSettings {
                config: retention.clone(),
                retry: RetryPolicy::default(),
            },
            pass: PassSettings {
                concurrency: *max_concurrent_jobs,
                small_file_bytes: *small_file_threshold_bytes,
                history_keep: state::kept(c),
                checks: Some(Arc::new(c.clone())),
                leases: None,
                idle: skip_unchanged(c),
                record_history: true,
            },
        }
    }
}

/// How every job's pass leaves unchanged idle tables unloaded under `c`: every
/// `full_check_interval_secs` (none when 0), marks counting under the same `[compactor]`
/// settings only (a changed key may find work on a table another setting found idle).
fn skip_unchanged(c: &CompactorConfig) -> Option<SkipUnchanged> {
    use std::hash::{Hash, Hasher};
    let full_check = c.full_check_interval();
    if full_check.is_zero() {
        return None;
    }
    let mut hasher = std::hash::DefaultHasher::new();
    serde_json::to_string(c).unwrap_or_default().hash(&mut hasher);
    let settings = format!("{:016x}", hasher.finish());
    Some(SkipUnchanged { full_check, settings, load_unread: false })
}

impl From<&CompactorConfig> for CompactionSettings {
    fn from(c: &CompactorConfig) -> Self {
        JobSettings::from(c).compaction
    }
}

impl From<&SortConfig> for SortPolicy {
    fn from(c: &SortConfig) -> Self {
        let SortConfig {
            enabled,
            traces,
            logs,
            metrics,
            profiles,
            memory_budget_bytes: _,
            spill_dir: _,
        } = c;
        Self {
            enabled: *enabled,
            traces: traces.clone(),
            logs: logs.clone(),
            metrics: metrics.clone(),
            profiles: profiles.clone(),
        }
    }
}

impl From<&SortConfig> for SortSettings {
    fn from(c: &SortConfig) -> Self {
        let SortConfig {
            memory_budget_bytes,
            spill_dir: _,
            enabled: _,
            traces: _,
            logs: _,
            metrics: _,
            profiles: _,
        } = c;
        Self {
            memory_budget_bytes: usize::try_from(*memory_budget_bytes).unwrap_or(usize::MAX),
            spill_dir: c.spill_dir(),
        }
    }
}

impl From<&OrphanCleanupConfig> for OrphanSettings {
    fn from(c: &OrphanCleanupConfig) -> Self {
        let OrphanCleanupConfig {
            // Read by the assembly's JobSpec and the retention cycle.
            enabled: _,
            dry_run: _,
            lifecycle_pause_secs: _,
            grace_period_hours,
            cleanup_interval_hours,
            batch_size,
            revalidate_before_delete,
            max_snapshot_age_hours,
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

/// How a pass goes over its tables, from `[compactor]`: which [`Components`] it is made of.
#[derive(Debug, Clone)]
pub struct PassSettings {
    /// Tables worked on at the same time (at least 1).
    pub concurrency: usize,
    /// Data files below this size count as small in the table gauges.
    pub small_file_bytes: u64,
    /// How long the run history keeps a pass.
    pub history_keep: chrono::Duration,
    /// The configuration the warning signs are checked against; `None` checks none.
    pub checks: Option<Arc<CompactorConfig>>,
    /// How tables are leased; `None` works on every table in scope without a lease.
    pub leases: Option<LeaseSettings>,
    /// When tables unchanged since an idle run are left unloaded, and how often the run
    /// history records a run that changed nothing; `None` loads and records every table.
    pub idle: Option<SkipUnchanged>,
    /// Whether each table's run is recorded in the run history (a preview is not).
    pub record_history: bool,
}

impl PassSettings {
    /// `concurrency` tables at a time, data files below `small_file_bytes` counted as small,
    /// run history kept 30 days, no warning sign checked, every table loaded.
    pub fn new(concurrency: usize, small_file_bytes: u64) -> Self {
        let history_keep = chrono::Duration::days(30);
        Self {
            concurrency,
            small_file_bytes,
            history_keep,
            checks: None,
            leases: None,
            idle: None,
            record_history: true,
        }
    }

    /// These settings with every table leased as `leases` says.
    pub fn with_leases(self, leases: LeaseSettings) -> Self {
        Self { leases: Some(leases), ..self }
    }

    /// These settings for a process that keeps its tables' gauges (the daemon): a table it has
    /// not read yet is loaded even when unchanged since an idle run.
    pub fn loading_unread(self) -> Self {
        let idle = self.idle.map(|idle| SkipUnchanged { load_unread: true, ..idle });
        Self { idle, ..self }
    }

    /// These settings loading every table on every pass, and recording every run.
    pub fn loading_every_table(self) -> Self {
        Self { idle: None, ..self }
    }

    /// These settings recording no run in the run history: a preview an operator asks for,
    /// which changes nothing and would otherwise crowd out the passes that did.
    pub fn without_history(self) -> Self {
        Self { record_history: false, ..self }
    }

    /// The components of a pass made with these settings, recording into `metrics` at the
    /// time `clock` tells: the catalog's tables in scope, most urgent first, less those
    /// unchanged since an idle run; after each table its gauges and failures, its run-history
    /// row, then its warning signs.
    pub fn components(self, metrics: &Arc<Metrics>, clock: Arc<dyn Clock>) -> Components {
        let PassSettings {
            concurrency,
            small_file_bytes,
            history_keep,
            checks,
            leases,
            idle,
            record_history,
        } = self;
        let instance = leases.as_ref().map_or("", |l| l.instance.as_str());
        let quiet_every = idle.as_ref().map(|idle| idle.full_check);
        let mut sinks: Vec<Arc<dyn AfterTable>> =
            vec![Arc::new(Gauges { metrics: Arc::clone(metrics) })];
        if record_history {
            sinks.push(Arc::new(History { keep: history_keep, quiet_every }));
        }
        if let Some(config) = checks {
            let metrics = Arc::clone(metrics);
            let clock = Arc::clone(&clock);
            sinks.push(Arc::new(Warnings { config, metrics, clock }));
        }
        let source = TableSource::new(instance);
        Components {
            source: match idle {
                Some(idle) => source.skipping(idle),
                None => source,
            },
            leases,
            sinks,
            concurrency,
            small_file_bytes,
            clock,
        }
    }
}
