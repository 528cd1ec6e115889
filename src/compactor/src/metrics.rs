//! The compactor's Prometheus metrics: one [`Metrics`] value owns a private registry and every
//! metric family, so that `/metrics` serves exactly what this crate defines and tests can build
//! as many independent instances as they like.
//!
//! Family names and labels are part of the operator-facing contract (dashboards and alerts
//! query them): `docs/metrics.md` lists each one. Per-table families use the table's signal as
//! the value of both the `signal` and the `table` label, because the table is named after its
//! signal.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::tables::TableId;
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
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

/// Every compactor metric family, registered in one private registry.
pub struct Metrics {
    registry: Registry,

    /// `compactor_compaction_runs_total{tenant,dataset,signal}`: compaction passes over a table.
    pub compaction_runs: IntCounterVec,
    /// `compactor_files_compacted_total{tenant,dataset,signal}`: input files rewritten.
    pub files_compacted: IntCounterVec,
    /// `compactor_bytes_compacted_total{tenant,dataset,signal}`: input bytes rewritten.
    pub bytes_compacted: IntCounterVec,
    /// `compactor_compaction_duration_seconds{tenant,dataset,signal}`: time per table pass.
    pub compaction_duration: HistogramVec,
    /// `compactor_compaction_conflicts_total{tenant,dataset,signal}`: commits that lost a race.
    pub compaction_conflicts: IntCounterVec,
    /// `compactor_compaction_groups_abandoned_total{tenant,dataset,signal}`: groups given up.
    pub compaction_groups_abandoned: IntCounterVec,

    /// `compactor_retention_cutoffs_computed{tenant,dataset,signal}`: cutoffs computed.
    pub retention_cutoffs_computed: IntCounterVec,
    /// `compactor_partitions_evaluated_total{tenant,dataset,signal}`: partitions checked.
    pub partitions_evaluated: IntCounterVec,
    /// `compactor_partitions_dropped_total{tenant,dataset,signal}`: partitions dropped.
    pub partitions_dropped: IntCounterVec,
    /// `compactor_snapshots_expired_total{tenant,dataset,table}`: snapshots expired.
    pub snapshots_expired: IntCounterVec,
    /// `compactor_retention_enforcement_duration_seconds{tenant,dataset}`: time per dataset.
    pub retention_duration: HistogramVec,

    /// `compactor_orphan_cleanup_runs_total{tenant,dataset,table}`: cleanup passes.
    pub orphan_cleanup_runs: IntCounterVec,
    /// `compactor_files_scanned_total{tenant,dataset,table}`: files listed in storage.
    pub files_scanned: IntCounterVec,
    /// `compactor_orphans_identified_total{tenant,dataset,table}`: orphans found.
    pub orphans_identified: IntCounterVec,
    /// `compactor_files_deleted_total{tenant,dataset,table}`: orphans deleted.
    pub files_deleted: IntCounterVec,
    /// `compactor_deletion_failures_total{tenant,dataset,table}`: deletions that failed.
    pub deletion_failures: IntCounterVec,
    /// `compactor_bytes_freed_total{tenant,dataset,table}`: bytes reclaimed.
    pub bytes_freed: IntCounterVec,
    /// `compactor_orphan_cleanup_duration_seconds{tenant,dataset,table}`: time per table pass.
    pub orphan_cleanup_duration: HistogramVec,

    /// `compactor_scheduler_cycles_total{job,outcome}`: finished scheduler cycles.
    pub scheduler_cycles: IntCounterVec,
    /// `compactor_scheduler_skipped_ticks_total{job}`: ticks skipped because a cycle was running.
    pub scheduler_skipped_ticks: IntCounterVec,
    /// `compactor_scheduler_cycle_duration_seconds{job}`: time per scheduler cycle.
    pub scheduler_cycle_duration: HistogramVec,
    /// `compactor_scheduler_last_success_timestamp_seconds{job}`: Unix time of the last success.
    pub scheduler_last_success: GaugeVec,

    /// `compactor_table_data_files{tenant,dataset,table}`: data files in the current snapshot.
    pub table_data_files: IntGaugeVec,
    /// `compactor_table_data_bytes{tenant,dataset,table}`: data bytes in the current snapshot.
    pub table_data_bytes: IntGaugeVec,
    /// `compactor_table_snapshots{tenant,dataset,table}`: snapshots kept in table metadata.
    pub table_snapshots: IntGaugeVec,
    /// `compactor_table_failures_total{tenant,dataset,table,job}`: tables a job failed on.
    pub table_failures: IntCounterVec,
}

impl Metrics {
    /// Creates every family and registers it in a new, private registry.
    pub fn new() -> Self {
        let r = Registry::new();
        Self {
            compaction_runs: counter(
                &r,
                "compactor_compaction_runs_total",
                "Compaction passes over a table.",
                SIGNAL_LABELS,
            ),
            files_compacted: counter(
                &r,
                "compactor_files_compacted_total",
                "Data files rewritten into larger files by compaction.",
                SIGNAL_LABELS,
            ),
            bytes_compacted: counter(
                &r,
                "compactor_bytes_compacted_total",
                "Bytes of data files rewritten by compaction.",
                SIGNAL_LABELS,
            ),
            compaction_duration: histogram(
                &r,
                "compactor_compaction_duration_seconds",
                "Duration of one compaction pass over a table, in seconds.",
                SIGNAL_LABELS,
            ),
            compaction_conflicts: counter(
                &r,
                "compactor_compaction_conflicts_total",
                "Compaction commits that lost a race with another writer.",
                SIGNAL_LABELS,
            ),
            compaction_groups_abandoned: counter(
                &r,
                "compactor_compaction_groups_abandoned_total",
                "Compaction groups given up after conflicts or errors; their files stay as they were.",
                SIGNAL_LABELS,
            ),
            retention_cutoffs_computed: counter(
                &r,
                "compactor_retention_cutoffs_computed",
                "Retention cutoffs computed for a table.",
                SIGNAL_LABELS,
            ),
            partitions_evaluated: counter(
                &r,
                "compactor_partitions_evaluated_total",
                "Partitions checked against the retention cutoff.",
                SIGNAL_LABELS,
            ),
            partitions_dropped: counter(
                &r,
                "compactor_partitions_dropped_total",
                "Partitions dropped because they were older than the retention cutoff.",
                SIGNAL_LABELS,
            ),
            snapshots_expired: counter(
                &r,
                "compactor_snapshots_expired_total",
                "Snapshots removed from table metadata by snapshot expiration.",
                TABLE_LABELS,
            ),
            retention_duration: histogram(
                &r,
                "compactor_retention_enforcement_duration_seconds",
                "Duration of retention enforcement for one dataset, in seconds.",
                DATASET_LABELS,
            ),
            orphan_cleanup_runs: counter(
                &r,
                "compactor_orphan_cleanup_runs_total",
                "Orphan-file cleanup passes over a table.",
                TABLE_LABELS,
            ),
            files_scanned: counter(
                &r,
                "compactor_files_scanned_total",
                "Files listed in the table's storage location by orphan cleanup.",
                TABLE_LABELS,
            ),
            orphans_identified: counter(
                &r,
                "compactor_orphans_identified_total",
                "Files referenced by no snapshot and older than the grace period.",
                TABLE_LABELS,
            ),
            files_deleted: counter(
                &r,
                "compactor_files_deleted_total",
                "Orphan files deleted.",
                TABLE_LABELS,
            ),
            deletion_failures: counter(
                &r,
                "compactor_deletion_failures_total",
                "Orphan file deletions that failed.",
                TABLE_LABELS,
            ),
            bytes_freed: counter(
                &r,
                "compactor_bytes_freed_total",
                "Bytes of storage reclaimed by deleting orphan files.",
                TABLE_LABELS,
            ),
            orphan_cleanup_duration: histogram(
                &r,
                "compactor_orphan_cleanup_duration_seconds",
                "Duration of one orphan-file cleanup pass over a table, in seconds.",
                TABLE_LABELS,
            ),
            scheduler_cycles: counter(
                &r,
                "compactor_scheduler_cycles_total",
                "Scheduler cycles finished, by job and outcome (success or failure).",
                JOB_OUTCOME_LABELS,
            ),
            scheduler_skipped_ticks: counter(
                &r,
                "compactor_scheduler_skipped_ticks_total",
                "Scheduler ticks skipped because the previous cycle was still running.",
                JOB_LABELS,
            ),
            scheduler_cycle_duration: histogram(
                &r,
                "compactor_scheduler_cycle_duration_seconds",
                "Duration of one scheduler cycle over all tables, in seconds.",
                JOB_LABELS,
            ),
            scheduler_last_success: register(
                &r,
                GaugeVec::new(
                    Opts::new(
                        "compactor_scheduler_last_success_timestamp_seconds",
                        "Unix time of the job's last successful cycle; 0 until one succeeds.",
                    ),
                    JOB_LABELS,
                ),
            ),
            table_data_files: gauge(
                &r,
                "compactor_table_data_files",
                "Data files in the table's current snapshot.",
                TABLE_LABELS,
            ),
            table_data_bytes: gauge(
                &r,
                "compactor_table_data_bytes",
                "Bytes of data files in the table's current snapshot.",
                TABLE_LABELS,
            ),
            table_snapshots: gauge(
                &r,
                "compactor_table_snapshots",
                "Snapshots kept in the table's metadata.",
                TABLE_LABELS,
            ),
            table_failures: counter(
                &r,
                "compactor_table_failures_total",
                "Times a job failed to load or process a table.",
                TABLE_JOB_LABELS,
            ),
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
            tracing::error!(target: "compactor", %error, "encoding metrics failed");
            String::new()
        })
    }

    /// Creates the zero-valued child of every per-table family for `table`, so that each
    /// family is exposed (at zero) as soon as the table is known.
    pub fn touch_table(&self, table: &TableId) {
        let labels = table_labels(table);
        for family in [
            &self.compaction_runs,
            &self.files_compacted,
            &self.bytes_compacted,
            &self.compaction_conflicts,
            &self.compaction_groups_abandoned,
            &self.retention_cutoffs_computed,
            &self.partitions_evaluated,
            &self.partitions_dropped,
            &self.snapshots_expired,
            &self.orphan_cleanup_runs,
            &self.files_scanned,
            &self.orphans_identified,
            &self.files_deleted,
            &self.deletion_failures,
            &self.bytes_freed,
        ] {
            family.with_label_values(&labels);
        }
        for family in [&self.compaction_duration, &self.orphan_cleanup_duration] {
            family.with_label_values(&labels);
        }
        self.retention_duration.with_label_values(&labels[..2]);
        for family in [&self.table_data_files, &self.table_data_bytes, &self.table_snapshots] {
            family.with_label_values(&labels);
        }
        for job in JobKind::ALL {
            self.table_failures.with_label_values(&table_job_labels(table, job));
        }
    }

    /// Creates the zero-valued child of every scheduler family for `job`, both outcomes.
    pub fn touch_job(&self, job: JobKind) {
        let name = job.as_str();
        for outcome in [OUTCOME_SUCCESS, OUTCOME_FAILURE] {
            self.scheduler_cycles.with_label_values(&[name, outcome]);
        }
        self.scheduler_skipped_ticks.with_label_values(&[name]);
        self.scheduler_cycle_duration.with_label_values(&[name]);
        self.scheduler_last_success.with_label_values(&[name]);
    }

    /// Sets the storage gauges of `table` from its current snapshot and metadata.
    pub fn set_table_stats(
        &self,
        table: &TableId,
        data_files: u64,
        data_bytes: u64,
        snapshots: u64,
    ) {
        let labels = table_labels(table);
        self.table_data_files.with_label_values(&labels).set(saturating_i64(data_files));
        self.table_data_bytes.with_label_values(&labels).set(saturating_i64(data_bytes));
        self.table_snapshots.with_label_values(&labels).set(saturating_i64(snapshots));
    }

    /// Records one finished scheduler cycle of `job`, stamping the last-success gauge with the
    /// current wall-clock time when it succeeded.
    pub fn record_cycle(&self, job: JobKind, success: bool, elapsed: Duration) {
        self.record_cycle_at(job, success, elapsed, SystemTime::now());
    }

    /// [`Metrics::record_cycle`] with the wall-clock time of the cycle's end passed in.
    pub fn record_cycle_at(&self, job: JobKind, success: bool, elapsed: Duration, now: SystemTime) {
        let name = job.as_str();
        let outcome = if success { OUTCOME_SUCCESS } else { OUTCOME_FAILURE };
        self.scheduler_cycles.with_label_values(&[name, outcome]).inc();
        self.scheduler_cycle_duration.with_label_values(&[name]).observe(elapsed.as_secs_f64());
        if success {
            let unix = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
            self.scheduler_last_success.with_label_values(&[name]).set(unix);
        }
    }

    /// Counts one tick of `job`'s scheduler skipped because its previous cycle was running.
    pub fn record_skipped_tick(&self, job: JobKind) {
        self.scheduler_skipped_ticks.with_label_values(&[job.as_str()]).inc();
    }

    /// Counts one failure of `job` to load or process `table`.
    pub fn record_table_failure(&self, table: &TableId, job: JobKind) {
        self.table_failures.with_label_values(&table_job_labels(table, job)).inc();
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

/// Label values of a `{tenant,dataset,table,job}` family.
fn table_job_labels(table: &TableId, job: JobKind) -> [&str; 4] {
    [&table.tenant, &table.dataset, table.signal.as_str(), job.as_str()]
}

/// Clamps a count into an integer gauge's range.
fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
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

/// Registers a freshly built family; the definitions above are static, so a failure here is a
/// programming error (an invalid or duplicate name) that every test run would catch.
fn register<C>(r: &Registry, family: prometheus::Result<C>) -> C
where
    C: prometheus::core::Collector + Clone + 'static,
{
    let family = family.expect("metric definition is valid");
    r.register(Box::new(family.clone())).expect("metric family is registered once");
    family
}
