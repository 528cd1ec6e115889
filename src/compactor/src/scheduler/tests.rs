use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::Utc;

use super::*;

/// A job whose passes take `pass_time` (in paused tokio time) and fail when `fail` is set.
struct FakeJob {
    kind: JobKind,
    pass_time: Duration,
    fail: bool,
    started: AtomicUsize,
    finished: AtomicUsize,
}

impl FakeJob {
    fn new(kind: JobKind, pass_time: Duration, fail: bool) -> Arc<Self> {
        Arc::new(Self {
            kind,
            pass_time,
            fail,
            started: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl Job for FakeJob {
    fn kind(&self) -> JobKind {
        self.kind
    }

    async fn run(&self, scope: &Scope, cancel: &CancellationToken) -> JobReport {
        self.started.fetch_add(1, Ordering::SeqCst);
        let mut report = JobReport::new(self.kind, scope.dry_run, Utc::now());
        tokio::select! {
            _ = tokio::time::sleep(self.pass_time) => {}
            // Stops at its next safe point when shutdown fires.
            _ = cancel.cancelled() => {}
        }
        if self.fail {
            report.errors.push("catalog unreachable".into());
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        report
    }
}

fn cycles(metrics: &Metrics, kind: JobKind, outcome: &str) -> u64 {
    metrics.scheduler.cycles.with_label_values(&[kind.as_str(), outcome]).get()
}

fn skipped(metrics: &Metrics, kind: JobKind) -> u64 {
    metrics.scheduler.skipped_ticks.with_label_values(&[kind.as_str()]).get()
}

fn start(
    job: Arc<FakeJob>,
    interval: Duration,
    metrics: &Arc<Metrics>,
    shutdown: &CancellationToken,
) -> JoinHandle<()> {
    let schedule = Schedule { job, interval, scope: Scope::default() };
    tokio::spawn(run_periodic(schedule, Arc::clone(metrics), shutdown.clone()))
}

#[tokio::test(start_paused = true)]
async fn first_pass_runs_at_start_then_once_per_interval() {
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let job = FakeJob::new(JobKind::Compaction, Duration::from_secs(1), false);
    let handle = start(Arc::clone(&job), Duration::from_secs(10), &metrics, &shutdown);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(job.finished.load(Ordering::SeqCst), 1, "first pass runs immediately");
    tokio::time::sleep(Duration::from_secs(30)).await;
    // Passes at t = 0, 10, 20, 30.
    assert_eq!(job.started.load(Ordering::SeqCst), 4);
    assert_eq!(cycles(&metrics, JobKind::Compaction, "success"), 4);
    assert_eq!(skipped(&metrics, JobKind::Compaction), 0);
    shutdown.cancel();
    handle.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_pass_still_running_is_never_started_twice() {
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    // Each pass takes 25 s with ticks every 10 s.
    let job = FakeJob::new(JobKind::Retention, Duration::from_secs(25), false);
    let handle = start(Arc::clone(&job), Duration::from_secs(10), &metrics, &shutdown);

    tokio::time::sleep(Duration::from_secs(61)).await;
    // t=0 starts, 10 and 20 skip, 30 starts (first ended at 25), 40 and 50 skip, 60 starts.
    assert_eq!(job.started.load(Ordering::SeqCst), 3);
    assert_eq!(skipped(&metrics, JobKind::Retention), 4);
    let running = job.started.load(Ordering::SeqCst) - job.finished.load(Ordering::SeqCst);
    assert_eq!(running, 1, "exactly one pass in flight");
    shutdown.cancel();
    handle.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn failing_passes_are_counted_and_retried_on_the_next_tick() {
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let failing = FakeJob::new(JobKind::OrphanCleanup, Duration::from_millis(10), true);
    let healthy = FakeJob::new(JobKind::Compaction, Duration::from_millis(10), false);
    let h1 = start(Arc::clone(&failing), Duration::from_secs(5), &metrics, &shutdown);
    let h2 = start(Arc::clone(&healthy), Duration::from_secs(5), &metrics, &shutdown);

    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(cycles(&metrics, JobKind::OrphanCleanup, "failure"), 3);
    assert_eq!(cycles(&metrics, JobKind::OrphanCleanup, "success"), 0);
    // The other scheduler is unaffected.
    assert_eq!(cycles(&metrics, JobKind::Compaction, "success"), 3);
    shutdown.cancel();
    h1.await.unwrap();
    h2.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_scheduling_and_waits_for_the_pass_in_flight() {
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let job = FakeJob::new(JobKind::Compaction, Duration::from_secs(3600), false);
    let handle = start(Arc::clone(&job), Duration::from_secs(10), &metrics, &shutdown);

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(job.started.load(Ordering::SeqCst), 1);
    shutdown.cancel();
    handle.await.unwrap();
    // The pass saw the token and stopped; nothing new was started.
    assert_eq!(job.finished.load(Ordering::SeqCst), 1);
    assert_eq!(job.started.load(Ordering::SeqCst), 1);
}
