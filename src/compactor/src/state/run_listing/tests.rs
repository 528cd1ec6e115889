use chrono::{DateTime, Duration, Utc};
use common::TableKind;
use common::storage::counted::RequestCounts;
use common::tables::TableId;

use super::*;
use crate::changes::Changes;
use crate::state::StateStore;
use crate::test_support::TempCatalog;

fn run(job: JobKind, started_at: DateTime<Utc>, outcome: RunOutcome) -> RunRecord {
    RunRecord {
        job,
        started_at,
        finished_at: started_at + Duration::seconds(1),
        outcome,
        changes: Changes::default(),
        error: None,
        error_kind: None,
        instance: "node-1".to_string(),
        requests: RequestCounts::default(),
    }
}

fn id(tenant: &str, dataset: &str, kind: TableKind) -> TableId {
    TableId::new(tenant, dataset, kind).unwrap()
}

#[tokio::test]
async fn the_listing_filters_and_pages_without_repeating_or_skipping_a_run() {
    let tmp = TempCatalog::new().await;
    let history = StateStore::open(&tmp.catalog).await.unwrap().runs();
    let keep = Duration::days(30);
    let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    // Three tables whose runs start at the same instant, so pages cut between equal times.
    let tables = [
        id("acme", "prod", TableKind::Logs),
        id("acme", "prod", TableKind::Traces),
        id("acmex", "prod", TableKind::Logs),
        id("acm_", "dev", TableKind::Logs),
    ];
    for (i, table) in tables.iter().enumerate() {
        for minutes in [0, 10] {
            let started = now - Duration::minutes(minutes);
            let outcome = if i == 1 { RunOutcome::DryRun } else { RunOutcome::Success };
            history.record(table, &run(JobKind::Compaction, started, outcome), keep).await.unwrap();
        }
        history
            .record(table, &run(JobKind::Retention, now, RunOutcome::Success), keep)
            .await
            .unwrap();
    }

    let every = RunFilter::default();
    let all = history.list(&every, 100, None).await.unwrap();
    assert_eq!(all.runs.len(), 12);
    assert!(all.next.is_none());
    let starts: Vec<i64> = all.runs.iter().map(|r| r.run.started_at.timestamp_millis()).collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first: {starts:?}");

    // Pages of two, each cursor passed on as text, give the same rows in the same order.
    let (mut paged, mut cursor) = (Vec::new(), None::<RunCursor>);
    loop {
        let page = history.list(&every, 2, cursor.as_ref()).await.unwrap();
        assert!(page.runs.len() <= 2);
        paged.extend(page.runs);
        match page.next {
            Some(next) => cursor = Some(next.to_string().parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(paged, all.runs);

    let count = |filter: RunFilter| {
        let history = history.clone();
        async move { history.list(&filter, 100, None).await.unwrap().runs }
    };
    let acme = count(RunFilter { tenant: Some("acme".into()), ..RunFilter::default() }).await;
    assert_eq!(acme.len(), 6, "acme's tables only, not acmex's");
    assert!(acme.iter().all(|r| r.namespace == "acme.prod"));
    // `_` is a literal, not LIKE's any character.
    let underscore = count(RunFilter { tenant: Some("acm_".into()), ..RunFilter::default() }).await;
    assert!(underscore.iter().all(|r| r.namespace == "acm_.dev"), "{underscore:?}");
    assert_eq!(underscore.len(), 3);
    let dev = count(RunFilter { dataset: Some("dev".into()), ..RunFilter::default() }).await;
    assert_eq!(dev.len(), 3);
    let traces = count(RunFilter { table: Some("traces".into()), ..RunFilter::default() }).await;
    assert_eq!(traces.len(), 3);
    let retention =
        count(RunFilter { job: Some(JobKind::Retention), ..RunFilter::default() }).await;
    assert_eq!(retention.len(), 4);
    let dry = count(RunFilter { outcome: Some(RunOutcome::DryRun), ..RunFilter::default() }).await;
    assert_eq!(dry.len(), 2);
    assert!(dry.iter().all(|r| r.table == "traces"));
}

#[test]
fn cursors_round_trip_and_refuse_anything_else() {
    let cursor: RunCursor = "1733582400000~acme.prod~logs~compaction".parse().unwrap();
    assert_eq!(cursor.to_string(), "1733582400000~acme.prod~logs~compaction");
    for bad in [
        "",
        "abc",
        "1~a~b",
        "1~a~b~c~d",
        "x~acme.prod~logs~compaction",
        "1~acme prod~logs~compaction",
        "1~acme.prod~logs~' OR 1=1 --",
        "1~~logs~compaction",
    ] {
        assert_eq!(bad.parse::<RunCursor>(), Err(InvalidCursor), "{bad}");
    }
}
