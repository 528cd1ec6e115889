use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::TableKind;
use common::clock::SystemClock;
use tokio::sync::Notify;

use super::*;
use crate::report::JobReport;

/// A job that waits until released or cancelled, then reports one table (or fails).
struct Gate {
    kind: JobKind,
    release: Arc<Notify>,
    fail: bool,
}

#[async_trait]
impl Job for Gate {
    fn kind(&self) -> JobKind {
        self.kind
    }

    async fn run(&self, scope: &Scope, cancel: &CancellationToken) -> JobReport {
        tokio::select! {
            _ = self.release.notified() => {}
            _ = cancel.cancelled() => {}
        }
        let mut report = JobReport::new(self.kind, scope.dry_run, Utc::now());
        let table = scope.tables.as_ref().and_then(|t| t.first().cloned()).unwrap();
        report.tables.push(if self.fail {
            TableReport::failed(&table, "the catalog is down".into())
        } else {
            TableReport::of(&table, "compacted 3 files".into(), None)
        });
        report
    }
}

fn gate(kind: JobKind, fail: bool) -> (Arc<dyn Job>, Arc<Notify>) {
    let release = Arc::new(Notify::new());
    (Arc::new(Gate { kind, release: Arc::clone(&release), fail }), release)
}

fn table(name: &str) -> TableId {
    TableId::new(name, "prod", TableKind::Logs).unwrap()
}

fn registry(max: usize) -> Arc<TriggeredRuns> {
    Arc::new(TriggeredRuns::new(max, CancellationToken::new(), Arc::new(SystemClock)))
}

async fn ended(run: &TriggeredRun) -> RunState {
    for _ in 0..500 {
        if run.state().finished() {
            return run.state();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("run {} did not end", run.id);
}

#[test]
fn run_ids_round_trip_and_refuse_anything_else() {
    let id = RunId::random();
    let text = id.to_string();
    assert!(text.starts_with("run-") && text.len() == 36, "{text}");
    assert_eq!(text.parse::<RunId>().unwrap(), id);
    for bad in [
        "",
        "run-",
        "run-123",
        "RUN-0123456789abcdef0123456789abcdef",
        "run-0123456789ABCDEF0123456789ABCDEF",
        "run-0123456789abcdef0123456789abcdeg",
        "run-0123456789abcdef0123456789abcdef0",
        "../../etc/passwd",
        "run-+123456789abcdef0123456789abcdef",
    ] {
        let err = bad.parse::<RunId>().unwrap_err();
        assert!(err.to_string().contains("malformed"), "{bad}: {err}");
    }
}

#[test]
fn state_names_are_their_json_form() {
    use RunState::*;
    for state in [Running, Cancelling, Succeeded, Failed, Skipped, Cancelled] {
        assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
    }
}

#[tokio::test]
async fn a_run_ends_with_its_reports_state_and_frees_its_slot() {
    let runs = registry(4);
    let (job, release) = gate(JobKind::Compaction, false);
    let run = runs.start(table("acme"), false, job).unwrap();
    assert_eq!(run.state(), RunState::Running);
    let view = run.view();
    assert_eq!((view.tenant.as_str(), view.table.as_str()), ("acme", "logs"));
    assert!(view.report.is_none() && view.finished_at.is_none());

    // One run per table and job at a time; another job or table is free to start.
    let (again, _) = gate(JobKind::Compaction, false);
    assert_eq!(
        runs.start(table("acme"), false, again).unwrap_err(),
        StartRefused::InFlight(run.id)
    );
    let (retention, release_retention) = gate(JobKind::Retention, true);
    let other = runs.start(table("acme"), true, retention).unwrap();

    release.notify_one();
    assert_eq!(ended(&run).await, RunState::Succeeded);
    let view = run.view();
    assert_eq!(view.summary.as_deref(), Some("compacted 3 files"));
    assert!(view.finished_at.is_some());
    assert_eq!(runs.cancel(run.id).unwrap_err(), CancelRefused::Finished(RunState::Succeeded));

    release_retention.notify_one();
    assert_eq!(ended(&other).await, RunState::Failed);
    assert_eq!(other.view().error.as_deref(), Some("the catalog is down"));

    let (job, release) = gate(JobKind::Compaction, false);
    let next = runs.start(table("acme"), false, job).unwrap();
    release.notify_one();
    ended(&next).await;
    let listed: Vec<RunId> = runs.list().iter().map(|r| r.id).collect();
    assert_eq!(listed, [next.id, other.id, run.id], "newest first");
    assert!(runs.get(RunId::random()).is_none());
}

#[tokio::test]
async fn runs_in_flight_are_bounded() {
    let runs = registry(2);
    let (a, release_a) = gate(JobKind::Compaction, false);
    let (b, _release_b) = gate(JobKind::Compaction, false);
    let (c, _) = gate(JobKind::Compaction, false);
    let first = runs.start(table("a"), false, a).unwrap();
    runs.start(table("b"), false, b).unwrap();
    assert_eq!(runs.start(table("c"), false, c).unwrap_err(), StartRefused::TooMany(2));
    release_a.notify_one();
    ended(&first).await;
    let (c, _) = gate(JobKind::Compaction, false);
    runs.start(table("c"), false, c).unwrap();
}

#[tokio::test]
async fn a_cancelled_run_ends_cancelled_and_stop_cancels_every_run() {
    let runs = registry(4);
    let (job, _never) = gate(JobKind::Compaction, false);
    let run = runs.start(table("acme"), false, job).unwrap();
    assert_eq!(runs.cancel(run.id).unwrap().state(), RunState::Cancelling);
    assert_eq!(ended(&run).await, RunState::Cancelled);
    assert_eq!(runs.cancel(RunId::random()).unwrap_err(), CancelRefused::NotFound);

    let (job, _never) = gate(JobKind::Retention, false);
    let run = runs.start(table("acme"), false, job).unwrap();
    tokio::time::timeout(Duration::from_secs(5), runs.stop()).await.unwrap();
    assert_eq!(run.state(), RunState::Cancelled);
    let (job, _) = gate(JobKind::Retention, false);
    assert_eq!(runs.start(table("acme"), false, job).unwrap_err(), StartRefused::ShuttingDown);
}

#[test]
fn old_finished_runs_are_forgotten_but_never_one_in_flight() {
    let mut registry = Registry::default();
    let active = RunId::random();
    let total = KEPT_FINISHED + 5;
    for i in 0..total {
        let id = if i == 0 { active } else { RunId::random() };
        registry.order.push_back(id);
        let run = TriggeredRun {
            id,
            table: table("acme"),
            job: JobKind::Compaction,
            dry_run: false,
            requested_at: Utc::now(),
            cancel: CancellationToken::new(),
            progress: Mutex::new(Progress {
                state: RunState::Succeeded,
                finished_at: None,
                report: None,
            }),
        };
        registry.runs.insert(id, Arc::new(run));
    }
    registry.active.insert((table("acme"), JobKind::Compaction), active);
    registry.forget_old();
    assert_eq!(registry.order.len(), KEPT_FINISHED + 1);
    assert_eq!(registry.runs.len(), KEPT_FINISHED + 1);
    assert_eq!(registry.order.front(), Some(&active), "the run in flight stays");
}
