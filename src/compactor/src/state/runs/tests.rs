use common::TableKind;

use super::*;
use crate::state::StateStore;
use crate::test_support::TempCatalog;

fn run(job: JobKind, minutes_ago: i64, outcome: RunOutcome, now: DateTime<Utc>) -> RunRecord {
    let started_at = now - Duration::minutes(minutes_ago);
    RunRecord {
        job,
        started_at,
        finished_at: started_at + Duration::seconds(2),
        outcome,
        changes: Changes { files_removed: 20, files_added: 1, ..Changes::default() },
        error: (outcome == RunOutcome::Failure).then(|| "catalog unreachable".to_string()),
        error_kind: (outcome == RunOutcome::Failure).then_some(FailureKind::Catalog),
        instance: "node-1-0badcafe".to_string(),
        // Read back as written: every column of the requests, past 32 bits too.
        requests: RequestCounts {
            get: 1017,
            put: 52,
            list: 3,
            head: 1,
            delete: 2,
            bytes_read: 12_897_485,
            bytes_written: 5 << 32,
        },
    }
}

#[test]
fn the_kept_age_is_the_configured_days_and_saturates() {
    let mut c = CompactorConfig::default();
    assert_eq!(kept(&c), Duration::days(30));
    c.run_history_days = u64::MAX;
    assert_eq!(kept(&c), Duration::MAX);
}

#[tokio::test]
async fn runs_are_recorded_read_newest_first_and_pruned_by_age() {
    let tmp = TempCatalog::new().await;
    let history = StateStore::open(&tmp.catalog).await.unwrap().runs();
    let day = Duration::days(1);
    let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let traces = TableId::new("acme", "prod", TableKind::Traces).unwrap();
    let now = Utc::now();
    let old = run(JobKind::Compaction, 60, RunOutcome::Success, now);
    let new = run(JobKind::Compaction, 5, RunOutcome::Failure, now);
    history.record(&logs, &old, day).await.unwrap();
    history.record(&logs, &new, day).await.unwrap();
    history
        .record(&traces, &run(JobKind::Retention, 1, RunOutcome::DryRun, now), day)
        .await
        .unwrap();

    let runs = history.runs(&logs, JobKind::Compaction, 10).await.unwrap();
    let millis = |r: &RunRecord| r.started_at.timestamp_millis();
    assert_eq!(runs.iter().map(millis).collect::<Vec<_>>(), [millis(&new), millis(&old)]);
    assert_eq!(runs[0].error.as_deref(), Some("catalog unreachable"));
    assert_eq!(runs[1].changes.files_removed, 20);
    assert_eq!((runs[0].requests, runs[1].requests), (new.requests, old.requests));
    assert!(history.runs(&logs, JobKind::Retention, 10).await.unwrap().is_empty());
    let ok = history.last_with(&logs, JobKind::Compaction, RunOutcome::Success).await;
    assert_eq!(ok.unwrap().map(|r| millis(&r)), Some(millis(&old)));

    // A run two days later forgets what is older than a day, for that table only.
    let later = run(JobKind::Compaction, -2 * 24 * 60, RunOutcome::Success, now);
    history.record(&logs, &later, day).await.unwrap();
    assert_eq!(history.runs(&logs, JobKind::Compaction, 10).await.unwrap().len(), 1);
    assert_eq!(history.runs(&traces, JobKind::Retention, 10).await.unwrap().len(), 1);

    // A history kept "forever" prunes nothing and does not overflow.
    let forever = StateStore::open(&tmp.catalog).await.unwrap().runs();
    forever.record(&logs, &new, Duration::MAX).await.unwrap();
    assert_eq!(forever.runs(&logs, JobKind::Compaction, 10).await.unwrap().len(), 2);
}

/// The newest run and the newest success of each job, and the newest of the last compactions
/// that rewrote files, come back from one statement, typed failures included.
async fn recent_runs_are_read_in_one_statement(history: Runs) {
    let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let traces = TableId::new("acme", "prod", TableKind::Traces).unwrap();
    let keep = Duration::days(30);
    let now = Utc::now();
    let empty = history.recent(&logs).await.unwrap();
    assert_eq!(empty.by_job.len(), JobKind::ALL.len());
    assert!(empty.by_job.iter().all(|(_, n, s)| n.is_none() && s.is_none()));
    assert!(empty.last_rewrite.is_none());

    let rewrote = run(JobKind::Compaction, 30, RunOutcome::Success, now);
    let idle = RunRecord {
        changes: Changes::default(),
        ..run(JobKind::Compaction, 20, RunOutcome::Success, now)
    };
    let failed = RunRecord {
        changes: Changes::default(),
        ..run(JobKind::Compaction, 10, RunOutcome::Failure, now)
    };
    let retention = run(JobKind::Retention, 5, RunOutcome::DryRun, now);
    for r in [&rewrote, &idle, &failed, &retention] {
        history.record(&logs, r, keep).await.unwrap();
    }
    history
        .record(&traces, &run(JobKind::Compaction, 1, RunOutcome::Success, now), keep)
        .await
        .unwrap();

    let recent = history.recent(&logs).await.unwrap();
    let millis = |r: &Option<RunRecord>| r.as_ref().map(|r| r.started_at.timestamp_millis());
    let ms = |r: &RunRecord| Some(r.started_at.timestamp_millis());
    let jobs: Vec<_> = recent.by_job.iter().map(|(j, _, _)| *j).collect();
    assert_eq!(jobs, JobKind::ALL);
    let (_, newest, success) = &recent.by_job[0];
    assert_eq!((millis(newest), millis(success)), (ms(&failed), ms(&idle)));
    assert_eq!(newest.as_ref().unwrap().error_kind, Some(FailureKind::Catalog));
    assert_eq!(success.as_ref().unwrap().error_kind, None);
    let (_, newest, success) = &recent.by_job[1];
    assert_eq!((millis(newest), millis(success)), (ms(&retention), None));
    assert!(recent.by_job[2].1.is_none() && recent.by_job[2].2.is_none());
    assert_eq!(millis(&recent.last_rewrite), ms(&rewrote));
    assert_eq!(recent.last_rewrite.as_ref().unwrap().changes.files_removed, 20);
    assert_eq!(recent.last_rewrite.unwrap().requests, rewrote.requests);
}

#[tokio::test]
async fn recent_runs_are_read_in_one_statement_on_sqlite() {
    let tmp = TempCatalog::new().await;
    recent_runs_are_read_in_one_statement(StateStore::open(&tmp.catalog).await.unwrap().runs())
        .await;
}

#[tokio::test]
async fn recent_runs_are_read_in_one_statement_on_postgres() {
    let Some(url) = crate::test_support::postgres_url("recent_runs_on_postgres") else {
        return;
    };
    let fx = crate::test_support::Fixture::on_postgres(&url).await;
    recent_runs_are_read_in_one_statement(StateStore::open(&fx.catalog).await.unwrap().runs())
        .await;
}
