//! The pass's manifest upkeep: a table with nothing to compact but too many manifests gets
//! one metadata-only merge, reported and counted; a dry run says what it would merge.

use std::sync::Arc;

use common::clock::SystemClock;
use tokio_util::sync::CancellationToken;

use super::execute::{MIB, settings, step_with};
use super::fixture::{BASE_HOUR, Fixture, live, rows_per_hour};
use crate::job::Scope;
use crate::live_files::manifest_list;
use crate::metrics::table_labels;
use crate::snapshot::MergePolicy;
use crate::step::{TableContext, TableStep};

#[tokio::test]
async fn a_table_with_nothing_to_compact_gets_its_manifests_merged() {
    let fx = Fixture::new().await;
    // Four files per hour: below `min_input_files` (5), so no hour is compacted.
    let hours = [BASE_HOUR, BASE_HOUR + 1];
    let expected = fx.fill(&hours, 4, 10).await;
    let before = fx.load().await;
    let live_before = live(&before).await.len();
    let mut settings = settings(128 * MIB);
    settings.execute.merge = MergePolicy { min_count: 3, target_size_bytes: 8 * MIB };
    let (step, metrics) = step_with(settings, Arc::new(SystemClock));
    let cancel = CancellationToken::new();

    let dry = Scope { dry_run: true, ..Scope::default() };
    let cx = TableContext::new(&fx.id, &before, &fx.catalog, &dry, &cancel);
    let outcome = step.run_table(&Default::default(), cx).await.unwrap();
    let manifests = outcome.details.manifests.unwrap();
    assert_eq!((manifests.before, manifests.would_merge), (4, Some(4)));
    assert!(outcome.summary.ends_with("manifests 4 -> 4 (would merge 4)"), "{}", outcome.summary);
    assert_eq!(fx.load().await.metadata().current_snapshot(), before.metadata().current_snapshot());

    let scope = Scope::default();
    let cx = TableContext::new(&fx.id, &before, &fx.catalog, &scope, &cancel);
    let outcome = step.run_table(&Default::default(), cx).await.unwrap();
    assert_eq!(outcome.error, None);
    let execution = outcome.details.execution.unwrap();
    assert!(execution.groups.is_empty());
    let manifests = outcome.details.manifests.unwrap();
    assert_eq!((manifests.before, manifests.after), (4, 1));
    assert_eq!((manifests.rewritten, manifests.written), (4, 1));
    assert!(outcome.summary.ends_with("manifests 4 -> 1 (4 merged into 1)"), "{}", outcome.summary);

    let after = fx.load().await;
    let current = after.metadata().current_snapshot().unwrap();
    assert_eq!(Some(current.snapshot_id()), manifests.merge_snapshot_id);
    assert_eq!(manifest_list(&after).await.unwrap().len(), 1);
    assert_eq!(live(&after).await.len(), live_before);
    assert_eq!(rows_per_hour(&after, None).await, expected);

    let labels = table_labels(&fx.id);
    assert_eq!(metrics.compaction.manifests_rewritten.with_label_values(&labels).get(), 4);
    assert_eq!(metrics.tables.manifests.with_label_values(&labels).get(), 1);

    // Merged: the next pass commits nothing.
    let cx = TableContext::new(&fx.id, &after, &fx.catalog, &scope, &cancel);
    let manifests =
        step.run_table(&Default::default(), cx).await.unwrap().details.manifests.unwrap();
    assert_eq!((manifests.before, manifests.after, manifests.merge_snapshot_id), (1, 1, None));
    assert_eq!(fx.load().await.metadata().current_snapshot().unwrap(), current);
}
