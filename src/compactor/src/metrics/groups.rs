//! The metric families, one group per recorder: each job's group (recorded from its step's
//! typed outcome), the schedulers' and the table pass's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::tables::TableId;
use prometheus::{GaugeVec, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use super::families::{
    DATASET_LABELS, OUTCOME_FAILURE, OUTCOME_SUCCESS, SIGNAL_LABELS, TABLE_FAILURE_LABELS,
    TABLE_LABELS, TASK_LABELS, TASK_OUTCOME_LABELS, counter, gauge, histogram, register,
    table_labels,
};
use crate::failure::FailureKind;
use crate::health::Component;
use crate::job::JobKind;
use crate::table_state::TableState;
use crate::warnings::{CONFIG_CHECKS, TABLE_CHECKS, Warning};

/// The compaction job's families, all `{tenant,dataset,signal}`.
pub struct CompactionMetrics {
    /// `compactor_compaction_runs_total`: compaction passes over a table.
    pub runs: IntCounterVec,
    /// `compactor_files_compacted_total`: input files rewritten.
    pub files_compacted: IntCounterVec,
    /// `compactor_bytes_compacted_total`: input bytes rewritten.
    pub bytes_compacted: IntCounterVec,
    /// `compactor_compaction_duration_seconds`: time per table pass.
    pub duration: HistogramVec,
    /// `compactor_compaction_conflicts_total`: commits that lost a race.
    pub conflicts: IntCounterVec,
    /// `compactor_compaction_groups_abandoned_total`: groups given up.
    pub groups_abandoned: IntCounterVec,
    /// `compactor_manifests_rewritten_total`: small manifests merged into larger ones.
    pub manifests_rewritten: IntCounterVec,
}

impl CompactionMetrics {
    /// Creates the group's families in `r`.
    pub fn new(r: &Registry) -> Self {
        Self {
            runs: counter(
                r,
                "compactor_compaction_runs_total",
                "Compaction passes over a table.",
                SIGNAL_LABELS,
            ),
            files_compacted: counter(
                r,
                "compactor_files_compacted_total",
                "Data files rewritten into larger files by compaction.",
                SIGNAL_LABELS,
            ),
            bytes_compacted: counter(
                r,
                "compactor_bytes_compacted_total",
                "Bytes of data files rewritten by compaction.",
                SIGNAL_LABELS,
            ),
            duration: histogram(
                r,
                "compactor_compaction_duration_seconds",
                "Duration of one compaction pass over a table, in seconds.",
                SIGNAL_LABELS,
            ),
            conflicts: counter(
                r,
                "compactor_compaction_conflicts_total",
                "Compaction commits that lost a race with another writer.",
                SIGNAL_LABELS,
            ),
            groups_abandoned: counter(
                r,
                "compactor_compaction_groups_abandoned_total",
                "Compaction groups given up after conflicts or errors; their files stay as they were.",
                SIGNAL_LABELS,
            ),
            manifests_rewritten: counter(
                r,
                "compactor_manifests_rewritten_total",
                "Small manifests whose entries compaction merged into larger manifests.",
                SIGNAL_LABELS,
            ),
        }
    }

    /// Creates the zero-valued children of `table`.
    pub fn touch(&self, table: &TableId) {
        let labels = table_labels(table);
        let Self {
            runs,
            files_compacted,
            bytes_compacted,
            duration,
            conflicts,
            groups_abandoned,
            manifests_rewritten,
        } = self;
        for family in [
            runs,
            files_compacted,
            bytes_compacted,
            conflicts,
            groups_abandoned,
            manifests_rewritten,
        ] {
            family.with_label_values(&labels);
        }
        duration.with_label_values(&labels);
    }
}

/// The retention job's families.
pub struct RetentionMetrics {
    /// `compactor_retention_cutoffs_computed{tenant,dataset,signal}`: cutoffs computed.
    pub cutoffs_computed: IntCounterVec,
    /// `compactor_partitions_evaluated_total{tenant,dataset,signal}`: partitions checked.
    pub partitions_evaluated: IntCounterVec,
    /// `compactor_partitions_dropped_total{tenant,dataset,signal}`: partitions dropped.
    pub partitions_dropped: IntCounterVec,
    /// `compactor_snapshots_expired_total{tenant,dataset,table}`: snapshots expired.
    pub snapshots_expired: IntCounterVec,
    /// `compactor_retention_enforcement_duration_seconds{tenant,dataset}`: time per dataset.
    pub duration: HistogramVec,
}

impl RetentionMetrics {
    /// Creates the group's families in `r`.
    pub fn new(r: &Registry) -> Self {
        Self {
            cutoffs_computed: counter(
                r,
                "compactor_retention_cutoffs_computed",
                "Retention cutoffs computed for a table.",
                SIGNAL_LABELS,
            ),
            partitions_evaluated: counter(
                r,
                "compactor_partitions_evaluated_total",
                "Partitions checked against the retention cutoff.",
                SIGNAL_LABELS,
            ),
            partitions_dropped: counter(
                r,
                "compactor_partitions_dropped_total",
                "Partitions dropped because they were older than the retention cutoff.",
                SIGNAL_LABELS,
            ),
            snapshots_expired: counter(
                r,
                "compactor_snapshots_expired_total",
                "Snapshots removed from table metadata by snapshot expiration.",
                TABLE_LABELS,
            ),
            duration: histogram(
                r,
                "compactor_retention_enforcement_duration_seconds",
                "Duration of retention enforcement for one dataset, in seconds.",
                DATASET_LABELS,
            ),
        }
    }

    /// Creates the zero-valued children of `table` (and of its dataset).
    pub fn touch(&self, table: &TableId) {
        let labels = table_labels(table);
        let Self {
            cutoffs_computed,
            partitions_evaluated,
            partitions_dropped,
            snapshots_expired,
            duration,
        } = self;
        for family in
            [cutoffs_computed, partitions_evaluated, partitions_dropped, snapshots_expired]
        {
            family.with_label_values(&labels);
        }
        duration.with_label_values(&labels[..2]);
    }
}

/// The orphan-cleanup job's families, all `{tenant,dataset,table}`.
pub struct OrphanMetrics {
    /// `compactor_orphan_cleanup_runs_total`: cleanup passes.
    pub runs: IntCounterVec,
    /// `compactor_files_scanned_total`: files listed in storage.
    pub files_scanned: IntCounterVec,
    /// `compactor_orphans_identified_total`: orphans found.
    pub orphans_identified: IntCounterVec,
    /// `compactor_files_deleted_total`: orphans deleted.
    pub files_deleted: IntCounterVec,
    /// `compactor_deletion_failures_total`: deletions that failed.
    pub deletion_failures: IntCounterVec,
    /// `compactor_bytes_freed_total`: bytes reclaimed.
    pub bytes_freed: IntCounterVec,
    /// `compactor_orphan_cleanup_duration_seconds`: time per table pass.
    pub duration: HistogramVec,
}

impl OrphanMetrics {
    /// Creates the group's families in `r`.
    pub fn new(r: &Registry) -> Self {
        Self {
            runs: counter(
                r,
                "compactor_orphan_cleanup_runs_total",
                "Orphan-file cleanup passes over a table.",
                TABLE_LABELS,
            ),
            files_scanned: counter(
                r,
                "compactor_files_scanned_total",
                "Files listed in the table's storage location by orphan cleanup.",
                TABLE_LABELS,
            ),
            orphans_identified: counter(
                r,
                "compactor_orphans_identified_total",
                "Files referenced by no snapshot and older than the grace period.",
                TABLE_LABELS,
            ),
            files_deleted: counter(
                r,
                "compactor_files_deleted_total",
                "Orphan files deleted.",
                TABLE_LABELS,
            ),
            deletion_failures: counter(
                r,
                "compactor_deletion_failures_total",
                "Orphan file deletions that failed.",
                TABLE_LABELS,
            ),
            bytes_freed: counter(
                r,
                "compactor_bytes_freed_total",
                "Bytes of storage reclaimed by deleting orphan files.",
                TABLE_LABELS,
            ),
            duration: histogram(
                r,
                "compactor_orphan_cleanup_duration_seconds",
                "Duration of one orphan-file cleanup pass over a table, in seconds.",
                TABLE_LABELS,
            ),
        }
    }

    /// Creates the zero-valued children of `table`.
    pub fn touch(&self, table: &TableId) {
        let labels = table_labels(table);
        let Self {
            runs,
            files_scanned,
            orphans_identified,
            files_deleted,
            deletion_failures,
            bytes_freed,
            duration,
        } = self;
        for family in
            [runs, files_scanned, orphans_identified, files_deleted, deletion_failures, bytes_freed]
        {
            family.with_label_values(&labels);
        }
        duration.with_label_values(&labels);
    }
}

/// The schedulers' families, all labelled by `task` (the job).
pub struct SchedulerMetrics {
    /// `compactor_scheduler_cycles_total{task,outcome}`: finished scheduler cycles.
    pub cycles: IntCounterVec,
    /// `compactor_scheduler_skipped_ticks_total{task}`: ticks skipped because a cycle was running.
    pub skipped_ticks: IntCounterVec,
    /// `compactor_scheduler_cycle_duration_seconds{task}`: time per scheduler cycle.
    pub cycle_duration: HistogramVec,
    /// `compactor_scheduler_last_success_timestamp_seconds{task}`: Unix time of the last success.
    pub last_success: GaugeVec,
    /// `compactor_ready{component}`: 1 while the component answers the readiness probe.
    pub ready: IntGaugeVec,
}

impl SchedulerMetrics {
    /// Creates the group's families in `r`.
    pub fn new(r: &Registry) -> Self {
        Self {
            cycles: counter(
                r,
                "compactor_scheduler_cycles_total",
                "Scheduler cycles finished, by task (the job: compaction, retention, orphan_cleanup) and outcome (success or failure).",
                TASK_OUTCOME_LABELS,
            ),
            skipped_ticks: counter(
                r,
                "compactor_scheduler_skipped_ticks_total",
                "Scheduler ticks skipped because the previous cycle was still running.",
                TASK_LABELS,
            ),
            cycle_duration: histogram(
                r,
                "compactor_scheduler_cycle_duration_seconds",
                "Duration of one scheduler cycle over all tables, in seconds.",
                TASK_LABELS,
            ),
            last_success: register(
                r,
                GaugeVec::new(
                    Opts::new(
                        "compactor_scheduler_last_success_timestamp_seconds",
                        "Unix time of the job's last successful cycle; 0 until one succeeds.",
                    ),
                    TASK_LABELS,
                ),
            ),
            ready: gauge(
                r,
                "compactor_ready",
                "1 while the component (catalog, object_store) answers the readiness probe, as /readyz reports it, else 0.",
                &["component"],
            ),
        }
    }

    /// Sets `compactor_ready{component}`.
    pub fn set_ready(&self, component: &str, ready: bool) {
        self.ready.with_label_values(&[component]).set(i64::from(ready));
    }

    /// Creates the zero-valued child of every family for `job`, both outcomes, and of the
    /// readiness gauge.
    pub fn touch(&self, job: JobKind) {
        let name = job.as_str();
        for outcome in [OUTCOME_SUCCESS, OUTCOME_FAILURE] {
            self.cycles.with_label_values(&[name, outcome]);
        }
        self.skipped_ticks.with_label_values(&[name]);
        self.cycle_duration.with_label_values(&[name]);
        self.last_success.with_label_values(&[name]);
        // Readiness is not per job, but is exposed (not ready) from the moment jobs are known.
        for component in [Component::Catalog, Component::ObjectStore] {
            self.ready.with_label_values(&[component.as_str()]);
        }
    }

    /// Records one finished cycle of `job`, stamping the last-success gauge with the current
    /// wall-clock time when it succeeded.
    pub fn record_cycle(&self, job: JobKind, success: bool, elapsed: Duration) {
        self.record_cycle_at(job, success, elapsed, SystemTime::now());
    }

    /// [`SchedulerMetrics::record_cycle`] with the wall-clock time of the cycle's end passed in.
    pub fn record_cycle_at(&self, job: JobKind, success: bool, elapsed: Duration, now: SystemTime) {
        let name = job.as_str();
        let outcome = if success { OUTCOME_SUCCESS } else { OUTCOME_FAILURE };
        self.cycles.with_label_values(&[name, outcome]).inc();
        self.cycle_duration.with_label_values(&[name]).observe(elapsed.as_secs_f64());
        if success {
            let unix = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
            self.last_success.with_label_values(&[name]).set(unix);
        }
    }

    /// Counts one tick of `job`'s scheduler skipped because its previous cycle was running.
    pub fn record_skipped_tick(&self, job: JobKind) {
        self.skipped_ticks.with_label_values(&[job.as_str()]).inc();
    }
}

/// The table pass's families: storage gauges and failures, all `{tenant,dataset,table}`.
pub struct TableMetrics {
    /// `compactor_table_data_files`: data files in the current snapshot.
    pub data_files: IntGaugeVec,
    /// `compactor_table_data_bytes`: data bytes in the current snapshot.
    pub data_bytes: IntGaugeVec,
    /// `compactor_table_snapshots`: snapshots kept in table metadata.
    pub snapshots: IntGaugeVec,
    /// `compactor_table_manifests`: manifests the current snapshot lists.
    pub manifests: IntGaugeVec,
    /// `compactor_table_small_files`: live data files below the small-file threshold.
    pub small_files: IntGaugeVec,
    /// `compactor_table_delete_files`: live delete files.
    pub delete_files: IntGaugeVec,
    /// `compactor_table_oldest_partition_timestamp_seconds`: start of the oldest partition.
    pub oldest_partition: IntGaugeVec,
    /// `compactor_table_metadata_bytes`: size of the current metadata file.
    pub metadata_bytes: IntGaugeVec,
    /// `compactor_table_failures_total{tenant,dataset,table,task,kind}`: tables a job failed
    /// on, by the failure's kind.
    pub failures: IntCounterVec,
    /// `compactor_warnings{check,tenant,dataset,table}`: 1 while a warning sign fires.
    pub warnings: IntGaugeVec,
}

impl TableMetrics {
    /// Creates the group's families in `r`.
    pub fn new(r: &Registry) -> Self {
        Self {
            data_files: gauge(
                r,
                "compactor_table_data_files",
                "Data files in the table's current snapshot.",
                TABLE_LABELS,
            ),
            data_bytes: gauge(
                r,
                "compactor_table_data_bytes",
                "Bytes of data files in the table's current snapshot.",
                TABLE_LABELS,
            ),
            snapshots: gauge(
                r,
                "compactor_table_snapshots",
                "Snapshots kept in the table's metadata.",
                TABLE_LABELS,
            ),
            manifests: gauge(
                r,
                "compactor_table_manifests",
                "Manifests the table's current snapshot lists.",
                TABLE_LABELS,
            ),
            small_files: gauge(
                r,
                "compactor_table_small_files",
                "Live data files smaller than small_file_threshold_bytes.",
                TABLE_LABELS,
            ),
            delete_files: gauge(
                r,
                "compactor_table_delete_files",
                "Live delete files (position and equality) in the table's current snapshot.",
                TABLE_LABELS,
            ),
            oldest_partition: gauge(
                r,
                "compactor_table_oldest_partition_timestamp_seconds",
                "Start of the table's oldest hour partition holding data, in Unix seconds (0 when empty).",
                TABLE_LABELS,
            ),
            metadata_bytes: gauge(
                r,
                "compactor_table_metadata_bytes",
                "Size of the table's current metadata file.",
                TABLE_LABELS,
            ),
            failures: counter(
                r,
                "compactor_table_failures_total",
                "Times a job failed to load or process a table, by the failure's kind.",
                TABLE_FAILURE_LABELS,
            ),
            warnings: gauge(
                r,
                "compactor_warnings",
                "1 while the named warning sign fires for the table (empty tenant, dataset and \
                 table: a configuration check), else 0.",
                &["check", "tenant", "dataset", "table"],
            ),
        }
    }

    /// Creates the zero-valued children of `table`, for every job.
    pub fn touch(&self, table: &TableId) {
        let labels = table_labels(table);
        for family in self.gauges() {
            family.with_label_values(&labels);
        }
        let [tenant, dataset, name] = labels;
        for check in TABLE_CHECKS {
            self.warnings.with_label_values(&[check, tenant, dataset, name]);
        }
        for job in JobKind::ALL {
            for kind in FailureKind::ALL {
                self.failures.with_label_values(&table_failure_labels(table, job, kind));
            }
        }
    }

    /// Sets the storage gauges of `table` from its current snapshot and metadata.
    pub fn set_stats(&self, table: &TableId, data_files: u64, data_bytes: u64, snapshots: u64) {
        let labels = table_labels(table);
        self.data_files.with_label_values(&labels).set(saturating_i64(data_files));
        self.data_bytes.with_label_values(&labels).set(saturating_i64(data_bytes));
        self.snapshots.with_label_values(&labels).set(saturating_i64(snapshots));
    }

    /// Sets the manifest gauge of `table`.
    pub fn set_manifests(&self, table: &TableId, manifests: usize) {
        let value = saturating_i64(u64::try_from(manifests).unwrap_or(u64::MAX));
        self.manifests.with_label_values(&table_labels(table)).set(value);
    }

    /// Sets every storage gauge of `table` from `state`, read from its committed metadata.
    pub fn set_state(&self, table: &TableId, state: &TableState) {
        self.set_stats(table, state.data_files, state.data_bytes, state.snapshots);
        let labels = table_labels(table);
        self.manifests.with_label_values(&labels).set(saturating_i64(state.manifests));
        self.small_files.with_label_values(&labels).set(saturating_i64(state.small_files));
        self.delete_files.with_label_values(&labels).set(saturating_i64(state.delete_files));
        let oldest = state.oldest_partition_seconds().unwrap_or(0);
        self.oldest_partition.with_label_values(&labels).set(oldest);
        self.metadata_bytes.with_label_values(&labels).set(saturating_i64(state.metadata_bytes));
    }

    /// Sets `compactor_warnings` of every table check of `table`: 1 for those in `firing`.
    pub fn set_warnings(&self, table: &TableId, firing: &[Warning]) {
        let [tenant, dataset, name] = table_labels(table);
        for check in TABLE_CHECKS {
            let on = firing.iter().any(|w| w.check == *check);
            self.warnings.with_label_values(&[check, tenant, dataset, name]).set(i64::from(on));
        }
    }

    /// Sets `compactor_warnings` of every configuration check: 1 for those in `firing`.
    pub fn set_config_warnings(&self, firing: &[Warning]) {
        for check in CONFIG_CHECKS {
            let on = firing.iter().any(|w| w.check == *check);
            self.warnings.with_label_values(&[check, "", "", ""]).set(i64::from(on));
        }
    }

    /// Every per-table gauge family.
    fn gauges(&self) -> [&IntGaugeVec; 8] {
        [
            &self.data_files,
            &self.data_bytes,
            &self.snapshots,
            &self.manifests,
            &self.small_files,
            &self.delete_files,
            &self.oldest_partition,
            &self.metadata_bytes,
        ]
    }

    /// Counts one failure of `job`, of `kind`, to load or process `table`.
    pub fn record_failure(&self, table: &TableId, job: JobKind, kind: FailureKind) {
        self.failures.with_label_values(&table_failure_labels(table, job, kind)).inc();
    }
}

/// Label values of the `{tenant,dataset,table,task,kind}` failure family.
fn table_failure_labels(table: &TableId, job: JobKind, kind: FailureKind) -> [&str; 5] {
    [&table.tenant, &table.dataset, table.table.as_str(), job.as_str(), kind.as_str()]
}

/// Clamps a count into an integer gauge's range.
fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
