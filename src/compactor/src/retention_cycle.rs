//! The retention cycle: a retention pass (partition drops, then snapshot expiration) is
//! followed, when orphan cleanup is enabled, by an orphan-cleanup pass over the tables it
//! changed after a short pause, so the storage retention released is reclaimed in the same cycle
//! instead of at the orphan scheduler's next tick.
//!
//! The pause gives writers that loaded the table just before expiration a moment to finish
//! with the old snapshots; it ends early, and the cleanup is skipped, when the service shuts
//! down. The orphan scheduler still runs on its own interval.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::tables::TableId;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::job::{JobKind, Scope};
use crate::log_target;
use crate::metrics::Metrics;
use crate::pass::Job;
use crate::report::{JobReport, TableOutcome};
use crate::scheduler::run_pass;

/// The orphan-cleanup pass that follows retention.
#[derive(Clone)]
pub(crate) struct FollowUp {
    /// The orphan-cleanup job.
    pub job: Arc<dyn Job>,
    /// Pause between the end of retention and the start of cleanup.
    pub pause: Duration,
    /// Whether cleanup only reports (its own configured dry run).
    pub dry_run: bool,
}

/// Retention, then (optionally) orphan cleanup.
///
/// As a [`Job`] (the daemon's retention scheduler) it reports the retention pass; the
/// follow-up covers the tables retention changed and is run, logged and counted as an
/// orphan-cleanup pass of its own. The retention cycle's duration therefore includes the pause
/// and the follow-up, and the retention scheduler does not start again before the cleanup is
/// done.
pub(crate) struct RetentionCycle {
    retention: Arc<dyn Job>,
    follow_up: Option<FollowUp>,
    metrics: Arc<Metrics>,
}

impl RetentionCycle {
    /// `retention`, followed by `follow_up` when there is one.
    pub(crate) fn new(
        retention: Arc<dyn Job>,
        follow_up: Option<FollowUp>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { retention, follow_up, metrics }
    }

    /// Runs the follow-up of a retention pass over `scope`: orphan cleanup of `only` those
    /// tables when given, else of the whole scope. `None` when there is no follow-up, `only` is
    /// empty (retention changed nothing), or the service shut down before it started.
    pub(crate) async fn follow_up(
        &self,
        scope: &Scope,
        only: Option<BTreeSet<TableId>>,
        cancel: &CancellationToken,
    ) -> Option<JobReport> {
        let FollowUp { job, pause, dry_run } = self.follow_up.as_ref()?;
        if cancel.is_cancelled() {
            return None;
        }
        if only.as_ref().is_some_and(BTreeSet::is_empty) {
            info!(
                target: log_target::SERVICE,
                "Retention released nothing; no orphan cleanup follows (its own schedule still runs)"
            );
            return None;
        }
        info!(
            target: log_target::SERVICE,
            pause_secs = pause.as_secs_f64(),
            tables = only.as_ref().map(BTreeSet::len),
            "Retention finished; orphan cleanup follows"
        );
        tokio::select! {
            _ = tokio::time::sleep(*pause) => {}
            _ = cancel.cancelled() => {
                info!(target: log_target::SERVICE, "Shutting down; orphan cleanup after retention skipped");
                return None;
            }
        }
        let scope = Scope { tables: only, ..scope.or_dry_run(*dry_run) };
        Some(run_pass(job.as_ref(), &scope, &self.metrics, cancel).await)
    }

    /// `compactor run --once`: one retention pass, then orphan cleanup of the whole scope (the
    /// operator asked for one pass of every enabled job), each run, logged and counted as its
    /// own pass; the reports in that order.
    pub(crate) async fn run_all(
        &self,
        scope: &Scope,
        cancel: &CancellationToken,
    ) -> Vec<JobReport> {
        let retention = run_pass(self.retention.as_ref(), scope, &self.metrics, cancel).await;
        let follow_up = self.follow_up(scope, None, cancel).await;
        std::iter::once(retention).chain(follow_up).collect()
    }
}

/// The tables a retention pass changed: those whose report names a drop snapshot or expired
/// snapshots (a dry run changes none).
pub(crate) fn changed_tables(retention: &JobReport) -> BTreeSet<TableId> {
    retention
        .tables
        .iter()
        .filter(|t| {
            let details = t.details.as_ref().and_then(TableOutcome::retention);
            !retention.dry_run && details.is_some_and(|d| d.changed_table())
        })
        .filter_map(|t| t.id())
        .collect()
}

#[async_trait]
impl Job for RetentionCycle {
    fn kind(&self) -> JobKind {
        JobKind::Retention
    }

    async fn run(&self, scope: &Scope, cancel: &CancellationToken) -> JobReport {
        let report = self.retention.run(scope, cancel).await;
        // The daemon's orphan scheduler covers every table on its own interval; after
        // retention only the tables it changed need cleaning now.
        self.follow_up(scope, Some(changed_tables(&report)), cancel).await;
        report
    }
}

#[cfg(test)]
mod tests;
