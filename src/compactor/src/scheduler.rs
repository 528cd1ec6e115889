//! One generic periodic runner drives every job: it knows WHEN a job runs, never WHAT it does.
//!
//! The first pass starts immediately, then one per interval. A pass still running when the
//! next tick comes is never started twice: the tick is skipped, logged and counted. Every pass
//! is timed and counted (`compactor_scheduler_cycles_total{task,outcome}`) here, once, instead
//! of in each job.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::job::{JobKind, Scope};
use crate::log_target;
use crate::metrics::Metrics;
use crate::pass::Job;
use crate::report::JobReport;

/// A job and how often to run it.
pub(crate) struct Schedule {
    /// The job to run.
    pub job: Arc<dyn Job>,
    /// Time between the starts of two passes.
    pub interval: Duration,
    /// What each pass covers (the daemon uses every table, with the job's configured dry run).
    pub scope: Scope,
}

/// Runs one pass of `job` and records its outcome in `metrics` and the log.
pub(crate) async fn run_pass(
    job: &dyn Job,
    scope: &Scope,
    metrics: &Metrics,
    cancel: &CancellationToken,
) -> JobReport {
    let kind = job.kind();
    let started = Instant::now();
    info!(target: log_target::SERVICE, job = %kind, dry_run = scope.dry_run, "Starting {kind} pass");
    let report = job.run(scope, cancel).await;
    let elapsed = started.elapsed();
    metrics.scheduler.record_cycle(kind, report.succeeded(), elapsed);
    if report.succeeded() {
        info!(
            target: log_target::SERVICE,
            job = %kind,
            tables = report.tables.len(),
            unchanged = report.unchanged,
            elapsed_secs = elapsed.as_secs_f64(),
            "Finished {kind} pass"
        );
    } else {
        for e in &report.errors {
            error!(target: log_target::SERVICE, job = %kind, error = %e, "{kind} pass failed");
        }
        warn!(
            target: log_target::SERVICE,
            job = %kind,
            tables = report.tables.len(),
            unchanged = report.unchanged,
            failures = report.failures(),
            elapsed_secs = elapsed.as_secs_f64(),
            "Finished {kind} pass with failures"
        );
    }
    report
}

/// Drives `schedule` until `shutdown` fires, then waits for the pass in flight (which sees
/// the same token and stops at its next safe point) before returning.
pub(crate) async fn run_periodic(
    schedule: Schedule,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let Schedule { job, interval, scope } = schedule;
    let kind = job.kind();
    metrics.touch_job(kind);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut in_flight: Option<JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        if let Some(handle) = in_flight.take_if(|h| h.is_finished()) {
            reap(handle, kind, &metrics).await;
        }
        if in_flight.is_some() {
            metrics.scheduler.record_skipped_tick(kind);
            warn!(
                target: log_target::SERVICE,
                job = %kind,
                interval_secs = interval.as_secs(),
                "Previous {kind} pass still running; skipping this tick"
            );
            continue;
        }
        let (job, scope, metrics, cancel) =
            (Arc::clone(&job), scope.clone(), Arc::clone(&metrics), shutdown.clone());
        in_flight = Some(tokio::spawn(async move {
            run_pass(job.as_ref(), &scope, &metrics, &cancel).await;
        }));
    }
    if let Some(handle) = in_flight {
        if !handle.is_finished() {
            info!(target: log_target::SERVICE, job = %kind, "Waiting for the {kind} pass in flight to stop");
        }
        reap(handle, kind, &metrics).await;
    }
}

/// Collects a finished pass; a pass that panicked counts as a failed cycle.
async fn reap(handle: JoinHandle<()>, kind: JobKind, metrics: &Metrics) {
    if let Err(e) = handle.await {
        metrics.scheduler.record_cycle(kind, false, Duration::ZERO);
        error!(target: log_target::SERVICE, job = %kind, error = %e, "{kind} pass panicked");
    }
}

#[cfg(test)]
mod tests;
