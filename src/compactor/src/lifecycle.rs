//! The coordinated lifecycle: a retention pass (partition drops, then snapshot expiration) is
//! followed, when orphan cleanup is enabled, by an orphan-cleanup pass over the same tables
//! after a short pause, so the storage retention released is reclaimed in the same cycle
//! instead of at the orphan scheduler's next tick.
//!
//! The pause gives writers that loaded the table just before expiration a moment to finish
//! with the old snapshots; it ends early, and the cleanup is skipped, when the service shuts
//! down. The orphan scheduler still runs on its own interval.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::job::{Job, JobKind, JobReport, Scope};
use crate::metrics::Metrics;
use crate::scheduler::run_pass;

/// The orphan-cleanup pass that follows retention.
#[derive(Clone)]
pub struct FollowUp {
    /// The orphan-cleanup job.
    pub job: Arc<dyn Job>,
    /// Pause between the end of retention and the start of cleanup.
    pub pause: Duration,
    /// Whether cleanup only reports (its own configured dry run).
    pub dry_run: bool,
}

/// Retention, then (optionally) orphan cleanup of the same scope.
///
/// As a [`Job`] (the daemon's retention scheduler) it reports the retention pass; the
/// follow-up is run, logged and counted as an orphan-cleanup pass of its own. The retention
/// cycle's duration therefore includes the pause and the follow-up, and the retention
/// scheduler does not start again before the cleanup is done.
pub struct RetentionLifecycle {
    retention: Arc<dyn Job>,
    follow_up: Option<FollowUp>,
    metrics: Arc<Metrics>,
}

impl RetentionLifecycle {
    /// `retention`, followed by `follow_up` when there is one.
    pub fn new(
        retention: Arc<dyn Job>,
        follow_up: Option<FollowUp>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { retention, follow_up, metrics }
    }

    /// Runs the follow-up of a retention pass over `scope`: `None` when there is none or the
    /// service shut down before it started.
    pub async fn follow_up(&self, scope: &Scope, cancel: &CancellationToken) -> Option<JobReport> {
        let FollowUp { job, pause, dry_run } = self.follow_up.as_ref()?;
        if cancel.is_cancelled() {
            return None;
        }
        info!(
            target: "compactor",
            pause_secs = pause.as_secs_f64(),
            "Retention finished; orphan cleanup of the same tables follows"
        );
        tokio::select! {
            _ = tokio::time::sleep(*pause) => {}
            _ = cancel.cancelled() => {
                info!(target: "compactor", "Shutting down; orphan cleanup after retention skipped");
                return None;
            }
        }
        let scope = Scope { dry_run: *dry_run, ..scope.clone() };
        Some(run_pass(job.as_ref(), &scope, &self.metrics, cancel).await)
    }

    /// One retention pass and its follow-up, each run, logged and counted as its own pass;
    /// the reports in that order.
    pub async fn run_all(&self, scope: &Scope, cancel: &CancellationToken) -> Vec<JobReport> {
        let mut reports =
            vec![run_pass(self.retention.as_ref(), scope, &self.metrics, cancel).await];
        reports.extend(self.follow_up(scope, cancel).await);
        reports
    }
}

#[async_trait]
impl Job for RetentionLifecycle {
    fn kind(&self) -> JobKind {
        JobKind::Retention
    }

    async fn run(&self, scope: &Scope, cancel: &CancellationToken) -> JobReport {
        let report = self.retention.run(scope, cancel).await;
        self.follow_up(scope, cancel).await;
        report
    }
}

#[cfg(test)]
mod tests;
