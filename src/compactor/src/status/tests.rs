use chrono::Utc;
use common::Signal;
use common::config::CompactorConfig;
use common::tables::TableId;

use super::*;
use crate::changes::Changes;
use crate::job::{JobKind, Scope};
use crate::state::{RunOutcome, RunRecord, StateStore};
use crate::test_support::{BASE_HOUR, Fixture};
use crate::warnings::{JOB_NOT_SUCCEEDING, STORAGE_GROWS_DESPITE_RETENTION};

fn config() -> CompactorConfig {
    let mut c = CompactorConfig::default();
    c.retention.enabled = true;
    c.orphan_cleanup.enabled = true;
    c
}

#[tokio::test]
async fn status_reads_the_state_the_history_and_scores_the_table() {
    let fx = Fixture::new().await;
    // Six small files of one hour of 2024: closed, compactable and far past retention.
    fx.fill(&[BASE_HOUR], 6, 10).await;
    let now = Utc::now();
    let report = status(&fx.catalog, &config(), &Scope::default(), now).await;
    assert!(report.errors.is_empty() && report.config_warnings.is_empty(), "{report:?}");
    assert_eq!(report.tables.len(), 1);
    let t = &report.tables[0];
    let state = t.state.as_ref().unwrap();
    assert_eq!((state.data_files, state.small_files, state.snapshots), (6, 6, 6));
    assert_eq!(t.retention.files_past_retention, 6);
    assert_eq!(t.retention.oldest_hour.as_deref(), Some("2024-01-01-00"));
    // Retention acts, so old data is its job, not a warning; the backlog costs 40 points.
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    assert_eq!(t.health.score, 60, "{:?}", t.health);
    assert!(!t.health.healthy);
    assert!(
        t.health.reasons[0].detail.contains("6 small files in closed partitions"),
        "{:?}",
        t.health
    );
    assert_eq!(report.unhealthy(), 1);

    // With retention off the old data is a warning sign too.
    let mut off = config();
    off.retention.enabled = false;
    off.orphan_cleanup.enabled = false;
    let report = status(&fx.catalog, &off, &Scope::default(), now).await;
    let checks: Vec<_> = report.tables[0].warnings.iter().map(|w| w.check).collect();
    assert!(checks.contains(&STORAGE_GROWS_DESPITE_RETENTION), "{checks:?}");

    // A failing compaction in the history shows as the job's last run and costs its points.
    let history = StateStore::open(&fx.catalog).await.unwrap().runs();
    let at = now - chrono::Duration::hours(4);
    let failed = RunRecord {
        job: JobKind::Compaction,
        started_at: at,
        finished_at: at,
        outcome: RunOutcome::Failure,
        changes: Changes::default(),
        error: Some("disk full".into()),
        error_kind: None,
        instance: "node-1-0badcafe".into(),
        requests: Default::default(),
    };
    history.record(&fx.id, &failed, chrono::Duration::days(30)).await.unwrap();
    let report = status(&fx.catalog, &config(), &Scope::default(), now).await;
    let t = &report.tables[0];
    let compaction = t.jobs.iter().find(|j| j.job == JobKind::Compaction).unwrap();
    assert_eq!(compaction.last_run.as_ref().unwrap().outcome, RunOutcome::Failure);
    assert_eq!(compaction.last_run.as_ref().unwrap().instance, "node-1-0badcafe");
    assert_eq!(compaction.last_success_age_secs, None);
    let checks: Vec<_> = t.warnings.iter().map(|w| w.check).collect();
    assert_eq!(checks, [JOB_NOT_SUCCEEDING]);
    assert!(t.health.reasons.iter().any(|r| r.detail.contains("disk full")), "{:?}", t.health);
    let text = render(&report);
    assert!(text.contains("acme.prod.logs"), "{text}");
    assert!(text.contains("warning job_not_succeeding"), "{text}");
    assert!(text.contains("1 table(s), 1 unhealthy"), "{text}");
    assert!(t.lease.is_none() && !text.contains("  lease "), "{text}");

    // A table an instance works on shows who holds its lease, for which job, until when.
    let leases = StateStore::open(&fx.catalog).await.unwrap().leases();
    let ttl = std::time::Duration::from_secs(60);
    leases.acquire(&fx.id, JobKind::Retention, "node-2-feedf00d", ttl).await.unwrap();
    let report = status(&fx.catalog, &config(), &Scope::default(), now).await;
    let lease = report.tables[0].lease.as_ref().expect("the lease is shown");
    assert_eq!((lease.job.as_str(), lease.owner.as_str()), ("retention", "node-2-feedf00d"));
    let text = render(&report);
    assert!(text.contains("  lease retention held by node-2-feedf00d until "), "{text}");

    // A scope without the table reports none.
    let other = Scope { signal: Some(Signal::Traces), ..Scope::default() };
    assert!(status(&fx.catalog, &config(), &other, now).await.tables.is_empty());
}

#[tokio::test]
async fn an_unmaintainable_table_is_unhealthy_and_other_tables_are_listed_apart() {
    use iceberg::Catalog;
    use iceberg::spec::UnboundPartitionSpec;

    let fx = Fixture::new().await;
    fx.fill(&[BASE_HOUR], 1, 10).await;
    // A signal table nobody partitioned, and a table of no known kind, in another dataset.
    let dev = TableId::new("acme", "dev", common::TableKind::Traces).unwrap();
    let location = fx.catalog.warehouse_location();
    let mut unpartitioned = common::tables::creation(&dev, location).unwrap();
    unpartitioned.partition_spec = Some(UnboundPartitionSpec::builder().build());
    let cat = fx.catalog.catalog();
    cat.create_namespace(&dev.namespace(), Default::default()).await.unwrap();
    cat.create_table(&dev.namespace(), unpartitioned).await.unwrap();
    let mut spans = common::tables::creation(&dev, location).unwrap();
    spans.name = "spans".into();
    spans.location = Some(format!("{location}/acme/dev/spans"));
    cat.create_table(&dev.namespace(), spans).await.unwrap();

    let report = status(&fx.catalog, &config(), &Scope::default(), Utc::now()).await;
    assert_eq!(report.tables.len(), 2, "{report:?}");
    let t = report.tables.iter().find(|t| t.dataset == "dev").unwrap();
    let state = t.state.as_ref().unwrap();
    let reason = state.not_maintainable.as_deref().expect("no time partition");
    assert!(reason.contains("not partitioned"), "{reason}");
    let checks: Vec<_> = t.warnings.iter().map(|w| w.check).collect();
    assert_eq!(checks, [crate::warnings::TABLE_NOT_MAINTAINABLE]);
    assert!(!t.health.healthy && t.health.score <= 30, "{:?}", t.health);
    assert!(
        t.health.reasons.iter().any(|r| r.detail.contains("cannot maintain")),
        "{:?}",
        t.health
    );
    let other = &report.not_maintained;
    assert_eq!(other.len(), 1, "{other:?}");
    assert_eq!((other[0].dataset.as_str(), other[0].table.as_str()), ("dev", "spans"));
    assert_eq!(report.unhealthy(), 1, "the dev table alone: a table not maintained is not counted");
    let text = render(&report);
    assert!(text.contains("not maintained acme.dev.spans: "), "{text}");
    assert!(text.contains("warning table_not_maintainable: "), "{text}");
}
