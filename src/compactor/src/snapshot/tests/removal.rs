//! A metadata-only removal of snapshots goes through the same stage, commit and retry as a
//! snapshot: a losing attempt's file is removed and the retry counts the conflict.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::clock::SystemClock;

use super::{HOURS, ROWS, exists};
use crate::live_files::ManifestCache;
use crate::snapshot::{
    CommitError, RemoveSnapshots, Retried, RetryPolicy, commit, commit_with_retry, stage_removal,
};
use crate::test_support::{Fixture, batch, rows_per_hour, write};

/// The snapshot ids of `table`, oldest first.
pub(super) fn oldest_first(table: &iceberg::table::Table) -> Vec<i64> {
    let mut s: Vec<_> =
        table.metadata().snapshots().map(|s| (s.sequence_number(), s.snapshot_id())).collect();
    s.sort();
    s.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn a_lost_removal_is_cleaned_up_and_retried_on_fresh_metadata() {
    let fx = Fixture::new().await;
    let mut expected = fx.fill(&HOURS, 3, ROWS).await;
    let stale = fx.load().await;
    let all = oldest_first(&stale);
    let change = RemoveSnapshots { snapshot_ids: vec![all[0]] };
    let staged = stage_removal(&stale, &change).await.unwrap();
    assert_eq!(staged.written, std::slice::from_ref(&staged.new_location), "only the metadata");

    // Another writer commits first: the swap loses and the staged file is removed.
    let late = write(&stale, HOURS[0], vec![batch(&stale, HOURS[0], 5, 555)]).await;
    fx.append(late).await;
    *expected.get_mut(&HOURS[0]).unwrap() += 5;
    let written = staged.written.clone();
    let err = commit(&fx.catalog, &fx.id, None, staged).await.unwrap_err();
    assert!(matches!(err, CommitError::Conflict { .. }), "{err}");
    assert!(!exists(&stale, &written[0]).await, "the losing attempt's file is left behind");

    // Through the retry path, racing once more: one conflict, then committed.
    let later = write(&stale, HOURS[1], vec![batch(&stale, HOURS[1], 3, 333)]).await;
    *expected.get_mut(&HOURS[1]).unwrap() += 3;
    let (calls, fx_ref, later, change) = (&AtomicU32::new(0), &fx, &later, &change);
    let policy = RetryPolicy { initial_backoff: Duration::from_millis(1), ..Default::default() };
    let outcome = commit_with_retry(
        &fx.catalog,
        &fx.id,
        None,
        &SystemClock,
        policy,
        &ManifestCache::new(),
        |_| async move {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                fx_ref.append(later.clone()).await;
            }
            Ok::<_, ()>(change.clone())
        },
    )
    .await
    .unwrap();
    assert_eq!((outcome.conflicts, calls.load(Ordering::SeqCst)), (1, 2));
    let Retried::Committed(removed) = outcome.result else { panic!("not committed") };
    assert_eq!(removed.snapshot_ids, [all[0]]);
    let after = fx.load().await;
    assert_eq!(after.metadata_location(), Some(removed.metadata_location.as_str()));
    assert_eq!(oldest_first(&after)[..2], all[1..], "only the named snapshot is gone");
    assert_eq!(after.metadata().snapshots().len(), 4);
    assert_eq!(rows_per_hour(&after, None).await, expected);
}
