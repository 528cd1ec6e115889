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

mod groups;

use common::tables::TableId;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub use groups::{
    CompactionMetrics, OrphanMetrics, RetentionMetrics, SchedulerMetrics, TableMetrics,
};

use crate::job::JobKind;

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

/// Histogram buckets for job and cycle durations, in seconds: from an empty pass (well under a
/// second) to a multi-hour rewrite of a large table.
pub const DURATION_BUCKETS: &[f64] =
    &[0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0];

/// Label names of families keyed by a table's signal.
const SIGNAL_LABELS: &[&str] = &["tenant", "dataset", "signal"];
/// Label names of families keyed by a table.
const TABLE_LABELS: &[&str] = &["tenant", "dataset", "table"];
/// Label names of families keyed by a dataset.
const DATASET_LABELS: &[&str] = &["tenant", "dataset"];
/// Label names of per-table, per-job families.
const TABLE_JOB_LABELS: &[&str] = &["tenant", "dataset", "table", "job"];
/// Label name of per-scheduler families.
const JOB_LABELS: &[&str] = &["job"];
/// Label names of per-scheduler cycle outcomes.
const JOB_OUTCOME_LABELS: &[&str] = &["job", "outcome"];

/// `outcome` label value of a cycle that succeeded.
pub const OUTCOME_SUCCESS: &str = "success";
/// `outcome` label value of a cycle that failed.
pub const OUTCOME_FAILURE: &str = "failure";

/// The label values identifying `table` in every per-table family, in label order: they serve
/// both `{tenant, dataset, signal}` and `{tenant, dataset, table}` families.
pub fn table_labels(table: &TableId) -> [&str; 3] {
    [&table.tenant, &table.dataset, table.signal.as_str()]
}

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
            tracing::error!(target: crate::LOG_TARGET, %error, "encoding metrics failed");
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

    /// Creates the zero-valued child of every scheduler family for `job`, both outcomes.
    pub fn touch_job(&self, job: JobKind) {
        self.scheduler.touch(job);
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

/// Creates and registers an integer counter family.
fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(r, IntCounterVec::new(Opts::new(name, help), labels))
}

/// Creates and registers an integer gauge family.
fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(r, IntGaugeVec::new(Opts::new(name, help), labels))
}

/// Creates and registers a duration histogram family with [`DURATION_BUCKETS`].
fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec());
    register(r, HistogramVec::new(opts, labels))
}

/// Registers a freshly built family; the definitions are static, so a failure here is a
/// programming error (an invalid or duplicate name) that every test run would catch.
fn register<C>(r: &Registry, family: prometheus::Result<C>) -> C
where
    C: prometheus::core::Collector + Clone + 'static,
{
    let family = family.expect("metric definition is valid");
    r.register(Box::new(family.clone())).expect("metric family is registered once");
    family
}
