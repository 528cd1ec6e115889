//! Delete files other engines commit (position deletes as Spark writes them, equality deletes
//! as Flink and iceberg-rust do) are applied by the rewrite, the applied ones removed in the
//! same snapshot, and a delete committed between plan and commit is never undone.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use common::clock::SystemClock;
use iceberg::spec::DataContentType;
use tokio_util::sync::CancellationToken;

use super::execute::{HookClock, compact, rows_by_hour, settings, step, step_with};
use super::fixture::{BASE_HOUR, Fixture, assert_totals_match_walk, live, paths_of_hour, summary};
use crate::live_files::live_files;

const NEXT: i64 = BASE_HOUR + 1;

/// The live delete files of the fixture's table.
async fn delete_files(fx: &Fixture) -> Vec<String> {
    let table = fx.load().await;
    let files = live_files(&table).await.unwrap();
    files.into_iter().filter(|f| f.content != DataContentType::Data).map(|f| f.path).collect()
}

#[tokio::test]
async fn position_and_equality_deletes_are_applied_and_their_files_removed() {
    let fx = Fixture::new().await;
    fx.fill(&[BASE_HOUR, NEXT], 6, 50).await;
    let table = fx.load().await;
    let paths = paths_of_hour(&table, BASE_HOUR).await;
    let pos = fx.write_position_delete(BASE_HOUR, &[(&paths[0], 0), (&paths[0], 7)]).await;
    // Rows 3 and 4 of the second and third appends (seeds 100 and 200).
    let eq = fx.write_equality_delete(BASE_HOUR, "body", &["body-100-3", "body-200-4"]).await;
    let table = fx.load().await;
    let expected = rows_by_hour(&table).await;
    assert_eq!((expected[&BASE_HOUR].len(), expected[&NEXT].len()), (296, 300));
    assert_eq!(delete_files(&fx).await.len(), 2);

    let (step, _) = step(Arc::new(SystemClock));
    let (plan, execution) = compact(&fx, &step, &table, &CancellationToken::new()).await;
    assert_eq!(plan.candidates.len(), 2);
    let hour = &plan.candidates[0];
    assert_eq!((hour.delete_files, hour.delete_rows), (2, 4));
    let mut applied = hour.groups[0].delete_files.clone();
    applied.sort();
    let mut both = vec![pos, eq];
    both.sort();
    assert_eq!(applied, both);
    assert_eq!(hour.groups[0].min_rows, 0, "an equality delete bounds nothing");
    assert_eq!(plan.candidates[1].delete_files, 0);
    assert_eq!(execution.groups_committed, 2, "{execution:?}");
    assert_eq!(execution.delete_files_removed, 2);

    let after = fx.load().await;
    assert_eq!(rows_by_hour(&after).await, expected, "deleted rows stay deleted");
    assert!(delete_files(&fx).await.is_empty(), "both delete files are removed");
    assert_eq!(summary(&after, "removed-delete-files"), 2);
    assert_eq!(summary(&after, "total-delete-files"), 0);
    assert_eq!(summary(&after, "total-records"), 596);
    assert_eq!(live(&after).await.len(), 2, "one file per hour");
    assert_totals_match_walk(&after).await;
}

#[tokio::test]
async fn a_delete_scoped_to_files_left_alone_is_kept() {
    let fx = Fixture::new().await;
    fx.fill(&[BASE_HOUR], 6, 50).await;
    let table = fx.load().await;
    // A target so small that each input is already "large": nothing is small, and the delete
    // of 2 rows of 50 (4%) is below the 30% ratio, so nothing is rewritten.
    let paths = paths_of_hour(&table, BASE_HOUR).await;
    let pos = fx.write_position_delete(BASE_HOUR, &[(&paths[0], 0), (&paths[0], 1)]).await;
    let (step, _) = step_with(settings(1024), Arc::new(SystemClock));
    let table = fx.load().await;
    let (plan, _) = compact(&fx, &step, &table, &CancellationToken::new()).await;
    assert!(plan.candidates.is_empty(), "{plan:?}");
    assert_eq!(plan.skipped[0].delete_files, 1);
    assert_eq!(delete_files(&fx).await, [pos]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_committed_between_plan_and_commit_abandons_the_groups_it_touches() {
    let fx = Arc::new(Fixture::new().await);
    fx.fill(&[BASE_HOUR, NEXT], 6, 50).await;
    let before = fx.load().await;
    let rows_before = rows_by_hour(&before).await;
    let victim = paths_of_hour(&before, BASE_HOUR).await.remove(0);

    // The clock is read once by planning, then before each commit attempt: the delete lands
    // between the first attempt's load and its compare-and-swap.
    let deleter = Arc::clone(&fx);
    let hook = move || {
        let (fx, victim) = (Arc::clone(&deleter), victim.clone());
        tokio::runtime::Handle::current()
            .block_on(async move { fx.write_position_delete(BASE_HOUR, &[(&victim, 3)]).await });
    };
    let clock = Arc::new(HookClock { calls: AtomicUsize::new(0), at: 1, hook: Box::new(hook) });
    let (step, _) = step(clock);
    let (_, execution) = compact(&fx, &step, &before, &CancellationToken::new()).await;
    assert_eq!((execution.groups_committed, execution.groups_abandoned), (1, 1));
    let abandoned = execution.groups.iter().find(|g| !g.committed()).unwrap();
    assert_eq!(abandoned.hour, BASE_HOUR);
    assert!(
        matches!(&abandoned.status, crate::compaction::GroupStatus::Abandoned { kind, .. } if kind == "new_deletes"),
        "{abandoned:?}"
    );
    assert!(execution.failures().is_empty(), "not a failure: {:?}", execution.failures());

    let after = fx.load().await;
    let rows = rows_by_hour(&after).await;
    assert_eq!(rows[&BASE_HOUR].len(), rows_before[&BASE_HOUR].len() - 1, "the delete stays");
    assert_eq!(rows[&NEXT], rows_before[&NEXT]);
    assert_eq!(paths_of_hour(&after, BASE_HOUR).await.len(), 7, "six inputs and the delete");
    assert_eq!(delete_files(&fx).await.len(), 1);
}
