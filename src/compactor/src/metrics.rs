//! The compactor's Prometheus metrics: one [`Metrics`] value owns a private registry and every
//! metric family, so that `/metrics` serves exactly what this crate defines and tests can build
//! as many independent instances as they like.
//!
//! Families are grouped by who records them ([`groups`]): one group per job, recorded from the
//! job step's typed outcome by the metrics wrapper assembled around the step
//! (`crate::metered`), one for the schedulers and one for the table pass. No job's logic
//! touches a metric.
//!
//! Family names and labels are part of the operator-facing contract (dashboards and alerts
//! query them): `docs/metrics.md` lists each one. Per-table families use the table's signal as
//! the value of both the `signal` and the `table` label, because the table is named after its
//! signal.

mod dependencies;
mod families;
mod groups;
mod leases;

use common::tables::TableId;
use prometheus::{Registry, TextEncoder};

pub(crate) use dependencies::DependencyMetrics;
pub(crate) use families::table_labels;
#[cfg(test)]
pub(crate) use families::{DURATION_BUCKETS, OUTCOME_SUCCESS};
pub(crate) use groups::{
    CompactionMetrics, OrphanMetrics, RetentionMetrics, SchedulerMetrics, TableMetrics,
};
pub(crate) use leases::LeaseMetrics;

use crate::job::JobKind;
use crate::log_target;

#[cfg(test)]
mod tests;

/// Every metric family the spec and the service requirements name exactly; `/metrics` must
/// always contain each of them once a table and the jobs are known.
pub const SPEC_FAMILIES: &[&str] = &[
    "compactor_compaction_runs_total",
    "compactor_files_compacted_total",
    "compactor_bytes_compacted_total",
    "compactor_compaction_duration_seconds",
    "compactor_retention_cutoffs_computed",
    "compactor_partitions_evaluated_total",
    "compactor_partitions_dropped_total",
    "compactor_snapshots_expired_total",
    "compactor_retention_enforcement_duration_seconds",
    "compactor_orphan_cleanup_runs_total",
    "compactor_files_scanned_total",
    "compactor_orphans_identified_total",
    "compactor_files_deleted_total",
    "compactor_deletion_failures_total",
    "compactor_bytes_freed_total",
    "compactor_orphan_cleanup_duration_seconds",
    "compactor_scheduler_cycles_total",
    "compactor_table_data_files",
    "compactor_table_data_bytes",
    "compactor_table_snapshots",
];

/// Every compactor metric family, registered in one private registry, in one group per
/// recorder.
pub struct Metrics {
    registry: Registry,
    /// The compaction job's families.
    pub compaction: CompactionMetrics,
    /// The retention job's families.
    pub retention: RetentionMetrics,
    /// The orphan-cleanup job's families.
    pub orphan: OrphanMetrics,
    /// The schedulers' families.
    pub scheduler: SchedulerMetrics,
    /// The per-table gauges and failures, recorded by the table pass.
    pub tables: TableMetrics,
    /// The table leases and the instance id, recorded by the table pass.
    pub leases: LeaseMetrics,
    /// The object store's retried attempts and the catalog's errors, recorded by their
    /// observers.
    pub dependencies: DependencyMetrics,
}

impl Metrics {
    /// Creates every family and registers it in a new, private registry.
    pub fn new() -> Self {
        let r = Registry::new();
        Self {
            compaction: CompactionMetrics::new(&r),
            retention: RetentionMetrics::new(&r),
            orphan: OrphanMetrics::new(&r),
            scheduler: SchedulerMetrics::new(&r),
            tables: TableMetrics::new(&r),
            leases: LeaseMetrics::new(&r),
            dependencies: DependencyMetrics::new(&r),
            registry: r,
        }
    }

    /// The registry holding every family, for callers that add their own collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Renders every family in the Prometheus text exposition format 0.0.4.
    ///
    /// Families without any child yet are left out, which is why the service calls
    /// [`Metrics::touch_table`] and [`Metrics::touch_job`] as soon as it knows them.
    pub fn encode(&self) -> String {
        // The registry prunes empty families, the only input the text encoder rejects.
        TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_else(|error| {
            tracing::error!(target: log_target::SERVICE, %error, "encoding metrics failed");
            String::new()
        })
    }

    /// Creates the zero-valued child of every per-table family for `table`, so that each
    /// family is exposed (at zero) as soon as the table is known.
    pub fn touch_table(&self, table: &TableId) {
        self.compaction.touch(table);
        self.retention.touch(table);
        self.orphan.touch(table);
        self.tables.touch(table);
    }

    /// Creates the zero-valued child of every scheduler and lease family for `job`, both
    /// outcomes, and of every dependency family.
    pub fn touch_job(&self, job: JobKind) {
        self.scheduler.touch(job);
        self.leases.touch(job);
        self.dependencies.touch();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}
