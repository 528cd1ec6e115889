//! Metrics as a wrapper around a table step: [`Metered`] times each table's step and records
//! the job's metric group from the step's typed outcome, so no job's logic touches a metric
//! and a new step is counted by implementing [`Recorded`] for its outcome.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::catalog::SignalCatalog;
use common::tables::TableId;
use tokio::time::Instant;

use crate::compaction::CompactionOutcome;
use crate::failure::Failure;
use crate::job::{JobKind, Scope};
use crate::metrics::{Metrics, table_labels};
use crate::orphan::report::OrphanReport;
use crate::retention::RetentionDetails;
use crate::step::{StepError, StepOutcome, TableContext, TableStep};

/// A step outcome that feeds its job's metric group.
pub trait Recorded: Send + Sync + 'static {
    /// Records one table's step that took `elapsed`; `outcome` is `None` when the step failed
    /// before producing one.
    fn record(
        metrics: &Metrics,
        id: &TableId,
        dry_run: bool,
        elapsed: Duration,
        outcome: Option<&Self>,
    );

    /// Records a finished pass from the outcomes of its tables.
    fn record_pass(_metrics: &Metrics, _outcomes: &[(&TableId, &Self)]) {}
}

/// `step`, with its job's metrics recorded from every outcome.
pub struct Metered<S> {
    step: S,
    metrics: Arc<Metrics>,
}

impl<S> Metered<S> {
    /// Wraps `step`, recording into `metrics`.
    pub fn new(step: S, metrics: Arc<Metrics>) -> Self {
        Self { step, metrics }
    }

    /// The wrapped step.
    pub fn inner(&self) -> &S {
        &self.step
    }
}

#[async_trait]
impl<S> TableStep for Metered<S>
where
    S: TableStep,
    S::Outcome: Recorded,
{
    type Outcome = S::Outcome;
    type Pass = S::Pass;

    fn kind(&self) -> JobKind {
        self.step.kind()
    }

    async fn begin_pass(
        &self,
        catalog: &SignalCatalog,
        scope: &Scope,
    ) -> Result<Self::Pass, Failure> {
        self.step.begin_pass(catalog, scope).await
    }

    fn urgency(&self, state: &crate::table_state::TableState) -> i64 {
        self.step.urgency(state)
    }

    async fn run_table(
        &self,
        pass: &Self::Pass,
        cx: TableContext<'_>,
    ) -> Result<StepOutcome<Self::Outcome>, StepError> {
        let (id, dry_run, started) = (cx.id, cx.scope.dry_run, Instant::now());
        let result = self.step.run_table(pass, cx).await;
        let outcome = result.as_ref().ok().map(|o| &o.details);
        S::Outcome::record(&self.metrics, id, dry_run, started.elapsed(), outcome);
        result
    }

    fn finish_pass(&self, outcomes: &[(&TableId, &Self::Outcome)]) {
        self.step.finish_pass(outcomes);
        S::Outcome::record_pass(&self.metrics, outcomes);
    }
}

impl Recorded for CompactionOutcome {
    /// A pass that changes tables counts as a run, planning failures included; a dry run only
    /// plans and is not counted.
    fn record(
        metrics: &Metrics,
        id: &TableId,
        dry_run: bool,
        elapsed: Duration,
        outcome: Option<&Self>,
    ) {
        if let Some(manifests) = outcome.and_then(|o| o.manifests.as_ref()) {
            metrics.tables.set_manifests(id, manifests.after);
        }
        if dry_run {
            return;
        }
        let (m, labels) = (&metrics.compaction, table_labels(id));
        m.runs.with_label_values(&labels).inc();
        if let Some(manifests) = outcome.and_then(|o| o.manifests.as_ref()) {
            m.manifests_rewritten.with_label_values(&labels).inc_by(manifests.rewritten as u64);
        }
        m.duration.with_label_values(&labels).observe(elapsed.as_secs_f64());
        let groups = outcome.and_then(|o| o.execution.as_ref()).map(|e| e.groups.as_slice());
        for group in groups.unwrap_or_default() {
            m.conflicts.with_label_values(&labels).inc_by(u64::from(group.conflicts));
            if group.committed() {
                m.files_compacted.with_label_values(&labels).inc_by(group.files_in as u64);
                m.bytes_compacted.with_label_values(&labels).inc_by(group.bytes_in);
            } else {
                m.groups_abandoned.with_label_values(&labels).inc();
            }
        }
    }
}

impl Recorded for RetentionDetails {
    /// Every table gets a cutoff; what was evaluated counts in dry runs too, what was dropped
    /// or expired only when committed.
    fn record(metrics: &Metrics, id: &TableId, _: bool, _: Duration, outcome: Option<&Self>) {
        let Some(d) = outcome else { return };
        let (m, labels) = (&metrics.retention, table_labels(id));
        m.cutoffs_computed.with_label_values(&labels).inc();
        m.partitions_evaluated.with_label_values(&labels).inc_by(d.partitions_evaluated as u64);
        if d.drop_snapshot_id.is_some() {
            let dropped = d.partitions_dropped.len() as u64;
            m.partitions_dropped.with_label_values(&labels).inc_by(dropped);
        }
        if !d.dry_run {
            let expired = d.snapshots_expired.len() as u64;
            m.snapshots_expired.with_label_values(&labels).inc_by(expired);
        }
    }

    /// One observation per dataset: the time its tables' passes took, summed.
    fn record_pass(metrics: &Metrics, outcomes: &[(&TableId, &Self)]) {
        let mut per_dataset: BTreeMap<(&str, &str), f64> = BTreeMap::new();
        for (id, d) in outcomes {
            *per_dataset.entry((&id.tenant, &id.dataset)).or_default() += d.duration_secs;
        }
        for ((tenant, dataset), secs) in per_dataset {
            metrics.retention.duration.with_label_values(&[tenant, dataset]).observe(secs);
        }
    }
}

impl Recorded for OrphanReport {
    /// Every cleanup of a table counts, dry runs included, with what it scanned and deleted.
    fn record(metrics: &Metrics, id: &TableId, _: bool, elapsed: Duration, outcome: Option<&Self>) {
        let (m, labels) = (&metrics.orphan, table_labels(id));
        m.runs.with_label_values(&labels).inc();
        m.duration.with_label_values(&labels).observe(elapsed.as_secs_f64());
        let Some(r) = outcome else { return };
        m.files_scanned.with_label_values(&labels).inc_by(r.scan.scanned);
        m.orphans_identified.with_label_values(&labels).inc_by(r.scan.orphans);
        m.files_deleted.with_label_values(&labels).inc_by(r.deletion.files_deleted);
        m.deletion_failures.with_label_values(&labels).inc_by(r.deletion.deletion_failures);
        m.bytes_freed.with_label_values(&labels).inc_by(r.deletion.bytes_freed);
    }
}
