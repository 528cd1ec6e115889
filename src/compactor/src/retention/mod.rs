//! Retention: resolve each table's policy and cutoff, drop expired `hour` partitions in one
//! metadata-only `delete` snapshot, then expire old snapshots.
//!
//! The pass over one table is [`RetentionStep`]: [`policy`] resolves the period (dataset →
//! tenant → global) and the cutoff `now − period − grace` from the injected clock;
//! [`partitions`] decides which hours of the current snapshot are expired; [`drop`] commits
//! them away through the shared snapshot path; [`expire`] then trims the snapshot list. A dry
//! run evaluates the same and logs what it would do. The step's typed outcome is
//! [`RetentionDetails`]. Files are never deleted here: orphan cleanup reclaims them.

pub(crate) mod drop;
pub(crate) mod error;
pub(crate) mod expire;
pub(crate) mod partitions;
pub(crate) mod policy;
pub(crate) mod report;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use common::catalog::SignalCatalog;
use common::clock::Clock;
use common::config::RetentionConfig;
use common::tables::TableId;
use tracing::{debug, info, warn};

pub(crate) use error::RetentionError;
pub(crate) use policy::{TablePolicy, format_utc};
pub(crate) use report::RetentionDetails;

use self::expire::ExpiredSnapshot;
use self::partitions::{Evaluation, SkipReason, evaluate};
use crate::failure::Failure;
use crate::job::{JobKind, Scope};
use crate::live_files::live_files;
use crate::log_target;
use crate::snapshot::RetryPolicy;
use crate::step::{StepError, StepOutcome, TableContext, TableStep};

/// Everything a retention pass needs, from `[compactor.retention]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetentionSettings {
    /// Periods, grace, timezone and snapshots to keep.
    pub config: RetentionConfig,
    /// How commits that lose a race are retried.
    pub retry: RetryPolicy,
}

/// The retention job's work on one table.
#[derive(Debug, Clone)]
pub(crate) struct RetentionStep {
    settings: RetentionSettings,
    clock: Arc<dyn Clock>,
}

impl RetentionStep {
    /// A step applying `settings`, at the time `clock` tells.
    pub(crate) fn new(settings: RetentionSettings, clock: Arc<dyn Clock>) -> Self {
        Self { settings, clock }
    }

    /// Reports the evaluation, warning about what is skipped.
    fn record_evaluation(
        &self,
        cx: &TableContext<'_>,
        eval: &Evaluation,
        d: &mut RetentionDetails,
    ) {
        let id = cx.id;
        for s in &eval.skipped {
            let (tenant, dataset, table) = (&id.tenant, &id.dataset, id.table.as_str());
            match s.reason {
                SkipReason::Uninterpretable => warn!(
                    target: log_target::RETENTION, %tenant, %dataset, %table, files = s.files, spec_ids = ?s.spec_ids,
                    "Skipping files of table {id} whose partition is not an hour value this compactor can interpret; they are never dropped"
                ),
            }
        }
        d.partitions_evaluated = eval.partitions.len();
        d.evaluated_hours = eval.partitions.iter().map(|p| p.hour_label.clone()).collect();
        d.skipped = eval.skipped.clone();
    }

    /// Evaluates the table as loaded and logs what a real pass would do.
    async fn dry_run(
        &self,
        cx: &TableContext<'_>,
        d: &mut RetentionDetails,
    ) -> Result<(), RetentionError> {
        let (id, now) = (cx.id, self.clock.now());
        let files =
            live_files(cx.table).await.map_err(RetentionError::iceberg("read manifests"))?;
        let eval = evaluate(&files, d.policy.cutoff);
        self.record_evaluation(cx, &eval, d);
        for p in &eval.expired {
            info!(
                target: log_target::RETENTION,
                "[DRY-RUN] Would drop partition: tenant={} dataset={} table={} hour={}",
                id.tenant, id.dataset, id.table, p.hour_label
            );
        }
        let md = cx.table.metadata();
        let expiring =
            expire::plan(md, self.settings.config.snapshots_to_keep, !eval.expired.is_empty())?;
        d.snapshots_expired = expiring.iter().map(|s| ExpiredSnapshot::new(*s, now)).collect();
        for s in &d.snapshots_expired {
            info!(
                target: log_target::RETENTION, tenant = %id.tenant, dataset = %id.dataset, table = %id.table,
                "[DRY-RUN] Would expire snapshot: snapshot_id={} age={}days", s.snapshot_id, s.age_days
            );
        }
        let pending = usize::from(!eval.expired.is_empty());
        d.snapshots_kept = md.snapshots().len() + pending - expiring.len();
        d.set_dropped(eval.expired);
        Ok(())
    }

    /// Drops the expired partitions, then expires snapshots; both are attempted, and every
    /// failure is returned.
    async fn enforce(
        &self,
        cx: &TableContext<'_>,
        d: &mut RetentionDetails,
    ) -> Vec<RetentionError> {
        let id = cx.id;
        let mut errors = Vec::new();
        let (clock, retry) = (self.clock.as_ref(), self.settings.retry);
        let (fence, cutoff) = (cx.fence.as_ref(), d.policy.cutoff);
        match drop::drop_expired(cx.catalog, id, fence, clock, retry, cutoff, &cx.files).await {
            Ok(outcome) => {
                self.record_evaluation(cx, &outcome.evaluation, d);
                d.conflicts += outcome.conflicts;
                if let Some(snapshot_id) = outcome.snapshot_id {
                    let dropped = outcome.evaluation.expired;
                    for p in &dropped {
                        info!(
                            target: log_target::RETENTION, snapshot_id,
                            "Dropped partition: tenant={} dataset={} table={} hour={} files={} rows={}",
                            id.tenant, id.dataset, id.table, p.hour_label, p.data_files, p.rows
                        );
                    }
                    d.drop_snapshot_id = Some(snapshot_id);
                    d.set_dropped(dropped);
                }
            }
            Err(e) => self.fail_or_defer(id, "partition drop", e, d, &mut errors),
        }
        if cx.cancel.is_cancelled() {
            d.deferred.push("snapshot expiration (the pass was cancelled)".into());
            return errors;
        }
        let keep = self.settings.config.snapshots_to_keep;
        match expire::expire(cx.catalog, id, cx.fence.as_ref(), clock, keep, retry, &cx.files).await
        {
            Ok(outcome) => {
                let now = self.clock.now();
                d.conflicts += outcome.conflicts;
                d.snapshots_kept = outcome.kept;
                d.snapshots_expired =
                    outcome.expired.iter().map(|s| ExpiredSnapshot::new(*s, now)).collect();
                for s in &d.snapshots_expired {
                    info!(
                        target: log_target::RETENTION, tenant = %id.tenant, dataset = %id.dataset, table = %id.table,
                        "Expired snapshot: snapshot_id={} age={}days", s.snapshot_id, s.age_days
                    );
                }
            }
            Err(e) => self.fail_or_defer(id, "snapshot expiration", e, d, &mut errors),
        }
        errors
    }

    /// Records `e` as deferred work when it is contention, as a failure otherwise.
    fn fail_or_defer(
        &self,
        id: &TableId,
        what: &str,
        e: RetentionError,
        d: &mut RetentionDetails,
        errors: &mut Vec<RetentionError>,
    ) {
        if !e.is_contention() {
            errors.push(e);
            return;
        }
        warn!(
            target: log_target::RETENTION, tenant = %id.tenant, dataset = %id.dataset, table = %id.table, error = %e,
            "Retention {what} deferred: every commit attempt lost to other writers; the next pass retries"
        );
        d.conflicts += match &e {
            RetentionError::Drop(retry) => retry.conflicts,
            RetentionError::ExpireConflicts { attempts } => *attempts,
            _ => 0,
        };
        d.deferred.push(what.to_string());
    }
}

#[async_trait]
impl TableStep for RetentionStep {
    type Outcome = RetentionDetails;
    type Pass = ();

    fn kind(&self) -> JobKind {
        JobKind::Retention
    }

    /// The table holding the oldest partition first: the retention unenforced longest.
    fn urgency(&self, state: &crate::table_state::TableState) -> i64 {
        state.oldest_hour.map_or(i64::MIN, |hour| -hour)
    }

    async fn begin_pass(&self, _: &SignalCatalog, _: &Scope) -> Result<(), Failure> {
        Ok(())
    }

    async fn run_table(
        &self,
        (): &(),
        cx: TableContext<'_>,
    ) -> Result<StepOutcome<RetentionDetails>, StepError> {
        let started = Instant::now();
        let id = cx.id;
        let policy = TablePolicy::resolve(&self.settings.config, id, self.clock.now());
        debug!(
            target: log_target::RETENTION, cutoff_local = %policy.cutoff_local, timezone = %policy.timezone,
            "Computed retention cutoff: tenant={} dataset={} signal={} cutoff={}",
            id.tenant, id.dataset, id.table, format_utc(policy.cutoff)
        );
        let mut details = RetentionDetails::new(policy, cx.scope.dry_run);
        // A table of a format version the compactor does not write is left alone, not failed.
        let refused = crate::time_partition::current_time_field(cx.table.metadata());
        if let Err(e @ crate::time_partition::NotMaintainable::FormatVersion { .. }) = refused {
            let summary = format!("not maintained: {e}");
            return Ok(StepOutcome { summary, details, error: None });
        }
        let errors = if cx.scope.dry_run {
            self.dry_run(&cx, &mut details).await.err().into_iter().collect()
        } else {
            self.enforce(&cx, &mut details).await
        };
        details.duration_secs = started.elapsed().as_secs_f64();
        let error = Failure::joined(errors.iter().map(Failure::of));
        Ok(StepOutcome { summary: details.summary(), details, error })
    }
}
