//! Retention passes on a real SQLite catalog with a manual clock: what a dry run reports and
//! leaves alone, what a real pass drops and expires, the grace boundary, and the metrics.

use std::sync::Arc;
use std::time::Duration;

use common::TableKind;
use common::catalog::CatalogHandle;
use common::catalog::ensure_table;
use common::clock::ManualClock;
use common::config::RetentionConfig;
use common::tables::TableId;
use iceberg::table::Table;
use tokio_util::sync::CancellationToken;

use super::fixture::{BASE_HOUR, Fixture, assert_totals_match_walk, live, rows_per_hour, summary};
use super::{add_ref, hour_start, snapshot_ids};
use crate::job::Scope;
use crate::metered::Metered;
use crate::metrics::{Metrics, table_labels};
use crate::pass::{Job, TablePass};
use crate::retention::{RetentionDetails, RetentionSettings, RetentionStep, format_utc};
use crate::snapshot::RetryPolicy;
use crate::step::{StepOutcome, TableContext, TableStep};
use crate::test_support::TempCatalog;

const HOURS: [i64; 4] = [BASE_HOUR, BASE_HOUR + 1, BASE_HOUR + 2, BASE_HOUR + 3];
const ROWS: usize = 25;

/// Logs kept 1 day plus 1 hour of grace; `keep` snapshots.
fn settings(keep: usize) -> RetentionSettings {
    let config = RetentionConfig {
        logs_retention_days: 1,
        grace_period_hours: 1,
        snapshots_to_keep: keep,
        ..Default::default()
    };
    let retry = RetryPolicy { initial_backoff: Duration::from_millis(1), ..Default::default() };
    RetentionSettings { config, retry }
}

/// The instant at which the cutoff (1 day + 1 hour back) is exactly the end of `hour`.
fn now_with_cutoff_at_end_of(hour: i64) -> chrono::DateTime<chrono::Utc> {
    hour_start(hour + 1) + chrono::Duration::hours(25)
}

struct Harness {
    fx: Fixture,
    clock: Arc<ManualClock>,
    metrics: Arc<Metrics>,
    step: Metered<RetentionStep>,
}

impl Harness {
    async fn new(keep: usize, appends: usize) -> Self {
        let fx = Fixture::new().await;
        fx.fill(&HOURS, appends, ROWS).await;
        let clock = Arc::new(ManualClock::new(now_with_cutoff_at_end_of(BASE_HOUR + 1)));
        let metrics = Arc::new(Metrics::new());
        let step = RetentionStep::new(settings(keep), clock.clone());
        let step = Metered::new(step, Arc::clone(&metrics));
        Self { fx, clock, metrics, step }
    }

    async fn run(&self, dry_run: bool) -> (StepOutcome<RetentionDetails>, RetentionDetails) {
        let table = self.fx.load().await;
        let scope = Scope { dry_run, ..Default::default() };
        let cancel = CancellationToken::new();
        let cx = TableContext::new(&self.fx.id, &table, &self.fx.catalog, &scope, &cancel);
        let outcome = self.step.run_table(&(), cx).await.unwrap();
        let details = outcome.details.clone();
        (outcome, details)
    }

    fn count(&self, pick: fn(&Metrics) -> &prometheus::IntCounterVec) -> u64 {
        pick(&self.metrics).with_label_values(&table_labels(&self.fx.id)).get()
    }

    async fn location(&self) -> String {
        self.fx.load().await.metadata_location().unwrap().to_string()
    }
}

fn labels(d: &RetentionDetails) -> Vec<&str> {
    d.partitions_dropped.iter().map(|p| p.hour_label.as_str()).collect()
}

#[tokio::test]
async fn a_dry_run_reports_the_drop_and_changes_nothing() {
    let h = Harness::new(2, 2).await;
    let before = h.location().await;
    let (outcome, d) = h.run(true).await;
    assert_eq!(outcome.error, None);
    assert_eq!(h.location().await, before, "metadata location unchanged");
    assert!(d.dry_run);
    assert_eq!(d.policy.cutoff, hour_start(BASE_HOUR + 2));
    assert_eq!((d.policy.days, d.policy.tier.as_str()), (1, "global"));
    assert_eq!(d.partitions_evaluated, 4);
    assert_eq!(labels(&d), ["2024-01-01-00", "2024-01-01-01"]);
    assert_eq!((d.rows_removed, d.files_removed), (2 * 2 * ROWS as u64, 4));
    assert_eq!(d.drop_snapshot_id, None);
    // Two snapshots, keep 2: the drop would take one place, so the oldest would go.
    let oldest = snapshot_ids(&h.fx.load().await)[0];
    let expiring: Vec<i64> = d.snapshots_expired.iter().map(|s| s.snapshot_id).collect();
    assert_eq!(expiring, [oldest]);
    assert_eq!(d.snapshots_kept, 2, "two appends and the drop, less the oldest");
    assert!(
        outcome.summary.starts_with("would drop 2 of 4 partitions (100 rows"),
        "{}",
        outcome.summary
    );
    assert_eq!(h.count(|m| &m.retention.cutoffs_computed), 1);
    assert_eq!(h.count(|m| &m.retention.partitions_evaluated), 4);
    assert_eq!(h.count(|m| &m.retention.partitions_dropped), 0);
    assert_eq!(h.count(|m| &m.retention.snapshots_expired), 0);
}

#[tokio::test]
async fn a_pass_drops_expired_hours_in_one_delete_snapshot_then_expires_snapshots() {
    let h = Harness::new(2, 2).await;
    let before = h.fx.load().await;
    let dropped: Vec<_> =
        live(&before).await.into_iter().filter(|e| e.hour <= BASE_HOUR + 1).collect();
    let dropped_files: Vec<String> = dropped.iter().map(|e| e.path.clone()).collect();
    let (outcome, d) = h.run(false).await;
    assert_eq!(outcome.error, None, "{}", outcome.summary);

    let after: Table = h.fx.load().await;
    let current = after.metadata().current_snapshot().unwrap();
    assert_eq!(d.drop_snapshot_id, Some(current.snapshot_id()));
    assert_eq!(current.summary().operation.as_str(), "delete");
    assert_eq!(summary(&after, "deleted-data-files"), 4);
    assert_eq!(summary(&after, "deleted-records"), 100);
    assert_totals_match_walk(&after).await;
    let rows = rows_per_hour(&after, None).await;
    assert_eq!(rows.into_iter().collect::<Vec<_>>(), [(BASE_HOUR + 2, 50), (BASE_HOUR + 3, 50)]);
    for path in &dropped_files {
        assert!(after.file_io().exists(path).await.unwrap(), "{path} deleted by retention");
    }
    assert_eq!(labels(&d), ["2024-01-01-00", "2024-01-01-01"]);
    assert_eq!(d.rows_removed, 100);
    assert_eq!(d.bytes_removed, dropped.iter().map(|e| e.size).sum::<u64>());
    assert_eq!(d.files_removed, 4);
    // Three snapshots after the drop, two kept: the oldest append went.
    assert_eq!(snapshot_ids(&after).len(), 2);
    assert_eq!(d.snapshots_expired.len(), 1);
    assert_eq!(d.snapshots_expired[0].snapshot_id, snapshot_ids(&before)[0]);
    assert_eq!(d.snapshots_kept, 2);
    assert_eq!(h.count(|m| &m.retention.partitions_evaluated), 4);
    assert_eq!(h.count(|m| &m.retention.partitions_dropped), 2);
    assert_eq!(h.count(|m| &m.retention.snapshots_expired), 1);

    // A second pass finds nothing to do and commits nothing.
    let location = h.location().await;
    let (outcome, d) = h.run(false).await;
    assert_eq!(outcome.error, None);
    assert!(d.partitions_dropped.is_empty() && d.snapshots_expired.is_empty(), "{d:?}");
    assert_eq!(d.partitions_evaluated, 2);
    assert_eq!(h.location().await, location);
    assert_eq!(h.count(|m| &m.retention.partitions_dropped), 2);
}

#[tokio::test]
async fn the_hour_ending_exactly_at_the_cutoff_is_dropped_one_second_later_is_not() {
    let h = Harness::new(10, 1).await;
    // The cutoff one second before the end of the first hour: nothing expired, no commit.
    h.clock.set(now_with_cutoff_at_end_of(BASE_HOUR) - chrono::Duration::seconds(1));
    let before = h.location().await;
    let (_, d) = h.run(false).await;
    assert!(d.partitions_dropped.is_empty(), "{d:?}");
    assert_eq!(h.location().await, before);

    // The cutoff exactly at its end: only that hour goes.
    h.clock.advance(chrono::Duration::seconds(1));
    let (_, d) = h.run(false).await;
    assert_eq!(format_utc(d.policy.cutoff), "2024-01-01T01:00:00Z");
    assert_eq!(labels(&d), ["2024-01-01-00"]);
    let rows = rows_per_hour(&h.fx.load().await, None).await;
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), HOURS[1..]);
}

#[tokio::test]
async fn expiration_after_a_drop_keeps_the_drop_and_every_referenced_snapshot() {
    let h = Harness::new(1, 3).await;
    let appends = snapshot_ids(&h.fx.load().await);
    add_ref(&h.fx, "audit", appends[0], false).await;
    let (outcome, d) = h.run(false).await;
    assert_eq!(outcome.error, None, "{}", outcome.summary);
    let after = h.fx.load().await;
    let expired: Vec<i64> = d.snapshots_expired.iter().map(|s| s.snapshot_id).collect();
    assert_eq!(expired, appends[1..], "all but the tagged append");
    assert_eq!(snapshot_ids(&after), [appends[0], d.drop_snapshot_id.unwrap()]);
    assert_eq!(d.snapshots_expired[0].age_days, 0, "committed moments ago");
    assert_eq!(h.count(|m| &m.retention.snapshots_expired), 2);
    assert_eq!(rows_per_hour(&after, Some(appends[0])).await.len(), 4, "the tag still reads");
}

#[tokio::test]
async fn the_job_observes_one_duration_per_dataset() {
    let TempCatalog { catalog, schema, warehouse, dir: _dir } = TempCatalog::new().await;
    for (tenant, signal) in
        [("acme", TableKind::Logs), ("acme", TableKind::Traces), ("other", TableKind::Logs)]
    {
        ensure_table(&catalog, &TableId::new(tenant, "prod", signal).unwrap()).await.unwrap();
    }
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(ManualClock::new(hour_start(BASE_HOUR)));
    let step = Metered::new(RetentionStep::new(settings(5), clock.clone()), Arc::clone(&metrics));
    let handle = Arc::new(CatalogHandle::new(schema, warehouse));
    let parts = crate::assembly::PassSettings::new(2, 1024).components(&metrics, clock.clone());
    let job = TablePass::new(step, handle, Arc::clone(&metrics), parts);
    let report = job.run(&Scope::default(), &CancellationToken::new()).await;
    assert!(report.succeeded(), "{}", report.render_text());
    assert_eq!(report.tables.len(), 3);
    let samples =
        |tenant| metrics.retention.duration.with_label_values(&[tenant, "prod"]).get_sample_count();
    assert_eq!((samples("acme"), samples("other")), (1, 1));
    let cutoffs =
        metrics.retention.cutoffs_computed.with_label_values(&["acme", "prod", "traces"]).get();
    assert_eq!(cutoffs, 1);
}

#[tokio::test]
async fn an_expired_hour_goes_with_its_delete_files() {
    let h = Harness::new(5, 1).await;
    let delete_file = h.fx.add_position_delete(HOURS[0]).await;
    let (outcome, d) = h.run(false).await;
    assert_eq!(outcome.error, None, "{}", outcome.summary);
    assert_eq!(labels(&d), ["2024-01-01-00", "2024-01-01-01"]);
    assert_eq!(d.files_removed, 3, "two data files and the delete file");
    assert!(d.skipped.is_empty(), "{:?}", d.skipped);
    let after = h.fx.load().await;
    assert!(live(&after).await.iter().all(|e| e.path != delete_file));
    assert_eq!(summary(&after, "removed-delete-files"), 1);
    assert_totals_match_walk(&after).await;
    let hours: Vec<i64> = rows_per_hour(&after, None).await.into_keys().collect();
    assert_eq!(hours, HOURS[2..]);
}
