use common::TableKind;
use std::sync::Mutex;
use tokio::time::Instant;

use super::*;
use crate::metrics::OUTCOME_SUCCESS;
use crate::report::TableReport;
use crate::retention::{RetentionDetails, TablePolicy};

/// A job that records when it ran and with which scope; as retention, it reports a dropped
/// partition in `acme.prod.logs` when `changes` is set.
struct Recorder {
    kind: JobKind,
    log: Arc<Mutex<Vec<(JobKind, Scope, Instant)>>>,
    changes: bool,
}

fn logs_table() -> TableId {
    TableId::new("acme", "prod", TableKind::Logs).unwrap()
}

#[async_trait]
impl Job for Recorder {
    fn kind(&self) -> JobKind {
        self.kind
    }

    async fn run(&self, scope: &Scope, _cancel: &CancellationToken) -> JobReport {
        self.log.lock().unwrap().push((self.kind, scope.clone(), Instant::now()));
        let mut report = JobReport::new(self.kind, scope.dry_run, chrono::Utc::now());
        if self.kind == JobKind::Retention {
            let traces = TableId::new("acme", "prod", TableKind::Traces).unwrap();
            let details = |id: &TableId| {
                let policy = TablePolicy::resolve(&Default::default(), id, chrono::Utc::now());
                RetentionDetails::new(policy, false)
            };
            let dropped = RetentionDetails {
                drop_snapshot_id: self.changes.then_some(7),
                ..details(&logs_table())
            };
            report.tables.push(TableReport::ok(&logs_table(), String::new(), dropped.into()));
            let unchanged = details(&traces);
            report.tables.push(TableReport::ok(&traces, String::new(), unchanged.into()));
        }
        report
    }
}

type Log = Arc<Mutex<Vec<(JobKind, Scope, Instant)>>>;

fn lifecycle(pause: Duration, with_follow_up: bool) -> (RetentionCycle, Log, Arc<Metrics>) {
    lifecycle_changing(pause, with_follow_up, true)
}

fn lifecycle_changing(
    pause: Duration,
    with_follow_up: bool,
    changes: bool,
) -> (RetentionCycle, Log, Arc<Metrics>) {
    let log: Log = Arc::default();
    let job =
        |kind| -> Arc<dyn Job> { Arc::new(Recorder { kind, log: Arc::clone(&log), changes }) };
    let follow_up =
        with_follow_up.then(|| FollowUp { job: job(JobKind::OrphanCleanup), pause, dry_run: true });
    let metrics = Arc::new(Metrics::new());
    (RetentionCycle::new(job(JobKind::Retention), follow_up, Arc::clone(&metrics)), log, metrics)
}

fn scope() -> Scope {
    Scope { tenant: Some("acme".into()), signal: Some(common::Signal::Logs), ..Default::default() }
}

#[tokio::test(start_paused = true)]
async fn retention_is_followed_by_cleanup_of_the_same_scope_after_the_pause() {
    let (lc, log, metrics) = lifecycle(Duration::from_secs(5), true);
    let reports = lc.run_all(&scope(), &CancellationToken::new()).await;
    let kinds: Vec<JobKind> = reports.iter().map(|r| r.job).collect();
    assert_eq!(kinds, [JobKind::Retention, JobKind::OrphanCleanup]);
    let log = log.lock().unwrap();
    let [(first, retention_scope, t0), (second, orphan_scope, t1)] = log.as_slice() else {
        panic!("{log:?}")
    };
    assert_eq!((*first, *second), (JobKind::Retention, JobKind::OrphanCleanup));
    assert_eq!(*t1 - *t0, Duration::from_secs(5));
    assert_eq!(retention_scope, &scope());
    // `run --once`: the whole scope, with the cleanup's own dry run.
    assert_eq!(orphan_scope, &Scope { dry_run: true, ..scope() });
    for job in [JobKind::Retention, JobKind::OrphanCleanup] {
        let cycles = metrics.scheduler.cycles.with_label_values(&[job.as_str(), OUTCOME_SUCCESS]);
        assert_eq!(cycles.get(), 1, "{job}");
    }
}

#[tokio::test(start_paused = true)]
async fn shutting_down_during_the_pause_skips_the_cleanup() {
    let (lc, log, _) = lifecycle(Duration::from_secs(5), true);
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let reports = lc.run_all(&scope(), &cancel).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(started.elapsed(), Duration::from_secs(2), "the pause ended at the shutdown");
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn as_a_job_it_reports_retention_and_still_runs_the_cleanup() {
    let (lc, log, metrics) = lifecycle(Duration::ZERO, true);
    assert_eq!(lc.kind(), JobKind::Retention);
    let report = lc.run(&scope(), &CancellationToken::new()).await;
    assert_eq!(report.job, JobKind::Retention);
    assert_eq!(log.lock().unwrap().len(), 2);
    let orphan = metrics.scheduler.cycles.with_label_values(&["orphan_cleanup", OUTCOME_SUCCESS]);
    assert_eq!(orphan.get(), 1);

    let (lc, log, _) = lifecycle(Duration::ZERO, false);
    assert_eq!(lc.run_all(&scope(), &CancellationToken::new()).await.len(), 1);
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn as_a_job_it_cleans_only_the_tables_retention_changed() {
    let (lc, log, _) = lifecycle(Duration::from_secs(5), true);
    lc.run(&scope(), &CancellationToken::new()).await;
    let log = log.lock().unwrap();
    let [_, (second, orphan_scope, _)] = log.as_slice() else { panic!("{log:?}") };
    assert_eq!(*second, JobKind::OrphanCleanup);
    // acme.prod.logs had a partition dropped; acme.prod.traces was unchanged.
    let changed = Some(BTreeSet::from([logs_table()]));
    assert_eq!(orphan_scope, &Scope { dry_run: true, tables: changed, ..scope() });
}

#[tokio::test(start_paused = true)]
async fn as_a_job_no_cleanup_follows_a_retention_pass_that_changed_nothing() {
    let (lc, log, _) = lifecycle_changing(Duration::from_secs(5), true, false);
    let started = Instant::now();
    lc.run(&scope(), &CancellationToken::new()).await;
    assert_eq!(log.lock().unwrap().len(), 1);
    assert_eq!(started.elapsed(), Duration::ZERO, "no pause either");
    // run --once still cleans the whole scope.
    assert_eq!(lc.run_all(&scope(), &CancellationToken::new()).await.len(), 2);
}
