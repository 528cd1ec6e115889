use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::clock::SystemClock;
use iceberg::spec::{DataFile, ManifestStatus};
use iceberg::table::Table;

use super::*;
use crate::live_files::ManifestCache;
use crate::test_support::{
    BASE_HOUR, Fixture, assert_totals_match_walk, batch, entries, live, paths_of_hour,
    rows_per_hour, summary, write,
};

mod fence;
mod merge;
mod metadata_log;
mod removal;

const HOURS: [i64; 3] = [BASE_HOUR, BASE_HOUR + 1, BASE_HOUR + 2];
const ROWS: usize = 25;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One new file of `hour` holding the same rows as the fixture's files of that hour.
async fn compacted(table: &Table, hour: i64) -> Vec<DataFile> {
    let seeds = (0..4).map(|round| round * 100 + (hour - BASE_HOUR) as usize);
    let batches = seeds.map(|seed| batch(table, hour, ROWS, seed)).collect();
    write(table, hour, batches).await
}

/// A replace of all files of `hour` by one compacted file, from `table`'s current snapshot.
async fn compaction(table: &Table, hour: i64) -> SnapshotChange {
    let start = table.metadata().current_snapshot().unwrap().sequence_number();
    SnapshotChange::replace(
        paths_of_hour(table, hour).await,
        compacted(table, hour).await,
        Some(start),
    )
}

async fn exists(table: &Table, location: &str) -> bool {
    table.file_io().exists(location).await.unwrap()
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let policy = RetryPolicy::default();
    let waits: Vec<u128> = (1..=8).map(|a| policy.backoff(a).as_millis()).collect();
    assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    assert_eq!(policy.max_attempts, 5);
}

#[tokio::test]
async fn replace_rewrites_one_hour_and_keeps_every_row() {
    let fx = Fixture::new().await;
    let expected = fx.fill(&HOURS, 4, ROWS).await;
    let before = fx.load().await;
    let old = before.metadata().current_snapshot().unwrap().clone();
    let old_size = summary(&before, "total-files-size");
    let removed_size: u64 =
        live(&before).await.iter().filter(|e| e.hour == HOURS[0]).map(|e| e.size).sum();

    let change = compaction(&before, HOURS[0]).await;
    let added = change.add.clone();
    let staged = stage(&before, &change, now_ms()).await.unwrap();
    assert!(staged.written.iter().all(|p| !p.ends_with(".parquet")));
    let outcome = commit(&fx.catalog, &fx.id, None, staged).await.unwrap();

    let after = fx.load().await;
    assert_eq!(after.metadata_location(), Some(outcome.metadata_location.as_str()));
    let snap = after.metadata().current_snapshot().unwrap();
    assert_eq!(snap.snapshot_id(), outcome.snapshot_id);
    assert_eq!(snap.parent_snapshot_id(), Some(old.snapshot_id()));
    assert_eq!(snap.summary().operation.as_str(), "replace");
    assert_eq!(rows_per_hour(&after, None).await, expected);
    assert_eq!(live(&after).await.len(), 12 - 3);

    let added_size = added[0].file_size_in_bytes() as i64;
    assert_eq!(summary(&after, "added-data-files"), 1);
    assert_eq!(summary(&after, "deleted-data-files"), 4);
    assert_eq!(summary(&after, "added-records"), 4 * ROWS as i64);
    assert_eq!(summary(&after, "deleted-records"), 4 * ROWS as i64);
    assert_eq!(summary(&after, "added-files-size"), added_size);
    assert_eq!(summary(&after, "removed-files-size"), removed_size as i64);
    assert_eq!(summary(&after, "changed-partition-count"), 1);
    assert_eq!(summary(&after, "total-data-files"), 9);
    assert_eq!(summary(&after, "total-records"), 12 * ROWS as i64);
    assert_eq!(summary(&after, "total-files-size"), old_size - removed_size as i64 + added_size);
    assert_totals_match_walk(&after).await;

    let all = entries(&after).await;
    let with = |status| all.iter().filter(move |e| e.status == status);
    assert_eq!(with(ManifestStatus::Deleted).count(), 4);
    assert!(
        with(ManifestStatus::Deleted)
            .all(|e| e.hour == HOURS[0] && e.snapshot_id == snap.snapshot_id())
    );
    let added_entry: Vec<_> = with(ManifestStatus::Added).collect();
    assert_eq!(added_entry.len(), 1);
    assert_eq!(added_entry[0].path, added[0].file_path());
    // The compacted file carries the sequence number of the snapshot the rewrite read.
    assert_eq!(added_entry[0].sequence_number, old.sequence_number());
    assert_eq!(with(ManifestStatus::Existing).count(), 8);
    assert!(
        with(ManifestStatus::Existing)
            .all(|e| e.hour != HOURS[0] && e.snapshot_id != snap.snapshot_id())
    );

    // Readers of the previous snapshot still see its files.
    assert_eq!(rows_per_hour(&after, Some(old.snapshot_id())).await, expected);
}

#[tokio::test]
async fn a_shared_manifest_cache_reads_only_new_manifests_and_still_rewrites_cached_ones() {
    let fx = Fixture::new().await;
    // Four appends, each one manifest holding a file of every hour.
    let mut expected = fx.fill(&HOURS, 4, ROWS).await;
    let planned = fx.load().await;
    let cache = ManifestCache::new();
    let change = compaction(&planned, HOURS[0]).await;
    // An attempt that loses its race: staged, then discarded.
    let lost = stage_cached(&planned, &change, now_ms(), &cache).await.unwrap();
    let seen = cache.len();
    assert_eq!(seen, 4, "every data manifest of the parent is read once");
    lost.discard().await;

    // A concurrent writer appends one file to another hour (one new manifest).
    let extra = write(&planned, HOURS[2], vec![batch(&planned, HOURS[2], ROWS, 999)]).await;
    fx.append(extra).await;
    let fresh = fx.load().await;
    let staged = stage_cached(&fresh, &change, now_ms(), &cache).await.unwrap();
    assert_eq!(cache.len(), seen + 1, "the retry reads only the manifest it has not seen");
    commit(&fx.catalog, &fx.id, None, staged).await.unwrap();

    let after = fx.load().await;
    *expected.get_mut(&HOURS[2]).unwrap() += ROWS;
    assert_eq!(rows_per_hour(&after, None).await, expected);
    let added: Vec<String> = change.add.iter().map(|f| f.file_path().to_string()).collect();
    assert_eq!(paths_of_hour(&after, HOURS[0]).await, added, "cached manifests were rewritten");
    assert_totals_match_walk(&after).await;
}

#[tokio::test]
async fn delete_drops_an_hours_delete_files_with_its_data_files() {
    let fx = Fixture::new().await;
    let mut expected = fx.fill(&HOURS, 2, ROWS).await;
    let delete_file = fx.add_position_delete(HOURS[1]).await;
    let before = fx.load().await;
    assert_eq!(summary(&before, "total-delete-files"), 1);
    let victims = paths_of_hour(&before, HOURS[1]).await;
    assert_eq!(victims.len(), 3, "two data files and the delete file");
    assert!(victims.contains(&delete_file));

    // A replace may remove a delete file (one its rewrite applied), counted as such; a path
    // that is no live file of either kind is refused.
    let replace = SnapshotChange::replace([delete_file.clone()], Vec::new(), None);
    let staged = stage(&before, &replace, now_ms()).await.unwrap();
    let props = &staged.effect.summary.additional_properties;
    assert_eq!(props["removed-delete-files"], "1");
    assert_eq!(props["total-delete-files"], "0");
    assert_eq!(props.get("deleted-data-files"), None);
    let gone = SnapshotChange::replace([format!("{delete_file}.gone")], Vec::new(), None);
    let err = stage(&before, &gone, now_ms()).await.unwrap_err();
    assert!(matches!(err, SnapshotError::FilesNoLongerLive { .. }), "{err}");

    let staged = stage(&before, &SnapshotChange::delete(victims), now_ms()).await.unwrap();
    commit(&fx.catalog, &fx.id, None, staged).await.unwrap();
    let after = fx.load().await;
    expected.remove(&HOURS[1]);
    assert_eq!(rows_per_hour(&after, None).await, expected);
    assert_eq!(summary(&after, "deleted-data-files"), 2);
    assert_eq!(summary(&after, "removed-delete-files"), 1);
    assert_eq!(summary(&after, "removed-position-deletes"), 1);
    assert_eq!(summary(&after, "total-position-deletes"), 0);
    assert_totals_match_walk(&after).await;
    let gone = entries(&after).await.into_iter().find(|e| e.path == delete_file).unwrap();
    assert_eq!(gone.status, ManifestStatus::Deleted);
}

#[tokio::test]
async fn delete_drops_one_hour_from_the_live_table_only() {
    let fx = Fixture::new().await;
    let mut expected = fx.fill(&HOURS, 2, ROWS).await;
    let before = fx.load().await;
    let victims = paths_of_hour(&before, HOURS[1]).await;
    let staged = stage(&before, &SnapshotChange::delete(victims), now_ms()).await.unwrap();
    commit(&fx.catalog, &fx.id, None, staged).await.unwrap();

    let after = fx.load().await;
    expected.remove(&HOURS[1]);
    assert_eq!(rows_per_hour(&after, None).await, expected);
    assert_eq!(after.metadata().current_snapshot().unwrap().summary().operation.as_str(), "delete");
    assert_eq!(summary(&after, "deleted-data-files"), 2);
    assert_eq!(summary(&after, "added-data-files"), 0);
    assert_eq!(summary(&after, "total-data-files"), 4);
    assert_eq!(summary(&after, "total-records"), 4 * ROWS as i64);
    assert_totals_match_walk(&after).await;
}

#[tokio::test]
async fn invalid_changes_are_refused() {
    let fx = Fixture::new().await;
    let empty = fx.load().await;
    let err =
        stage(&empty, &SnapshotChange::delete(["x".to_string()]), now_ms()).await.unwrap_err();
    assert!(matches!(err, SnapshotError::InvalidChange { .. }), "{err}");

    fx.fill(&HOURS[..1], 1, ROWS).await;
    let table = fx.load().await;
    let files = write(&table, HOURS[0], vec![batch(&table, HOURS[0], 3, 9)]).await;
    let mut change = SnapshotChange::delete(paths_of_hour(&table, HOURS[0]).await);
    change.add = files;
    let err = stage(&table, &change, now_ms()).await.unwrap_err();
    assert!(matches!(err, SnapshotError::InvalidChange { .. }), "{err}");
}

#[tokio::test]
async fn a_stale_commit_conflicts_cleans_up_and_the_retry_keeps_appended_rows() {
    let fx = Fixture::new().await;
    let mut expected = fx.fill(&HOURS, 4, ROWS).await;
    let stale = fx.load().await;
    let change = compaction(&stale, HOURS[2]).await;
    let staged = stage(&stale, &change, now_ms()).await.unwrap();
    let written = staged.written.clone();
    for location in &written {
        assert!(exists(&stale, location).await, "{location} not written");
    }

    // Another writer appends to the same hour meanwhile.
    let late = write(&stale, HOURS[2], vec![batch(&stale, HOURS[2], 10, 999)]).await;
    fx.append(late).await;
    *expected.get_mut(&HOURS[2]).unwrap() += 10;

    let err = commit(&fx.catalog, &fx.id, None, staged).await.unwrap_err();
    assert!(matches!(err, CommitError::Conflict { .. }), "{err}");
    assert_eq!(err.kind(), "conflict");
    for location in &written {
        assert!(!exists(&stale, location).await, "{location} left behind");
    }
    for file in &change.add {
        assert!(exists(&stale, file.file_path()).await, "a data file was removed");
    }

    let policy = RetryPolicy { initial_backoff: Duration::from_millis(1), ..Default::default() };
    let change = &change;
    let outcome = commit_with_retry(
        &fx.catalog,
        &fx.id,
        None,
        &SystemClock,
        policy,
        &ManifestCache::new(),
        |_table| async move { Ok::<_, ()>(change.clone()) },
    )
    .await
    .unwrap();
    assert!(matches!(outcome.result, Retried::Committed(_)));
    assert_eq!(outcome.conflicts, 0);
    let after = fx.load().await;
    assert_eq!(rows_per_hour(&after, None).await, expected);
    // 12 fixture files + 1 late - 4 compacted + 1 output.
    assert_eq!(live(&after).await.len(), 10);
    assert_totals_match_walk(&after).await;
}

#[tokio::test]
async fn commit_with_retry_rebuilds_after_a_conflict_and_counts_it() {
    let fx = Fixture::new().await;
    let mut expected = fx.fill(&HOURS, 4, ROWS).await;
    let start = fx.load().await;
    let change = compaction(&start, HOURS[0]).await;
    let late = write(&start, HOURS[1], vec![batch(&start, HOURS[1], 7, 777)]).await;
    *expected.get_mut(&HOURS[1]).unwrap() += 7;

    let calls = AtomicU32::new(0);
    let (fx_ref, change, late, calls) = (&fx, &change, &late, &calls);
    let policy = RetryPolicy { initial_backoff: Duration::from_millis(1), ..Default::default() };
    let outcome = commit_with_retry(
        &fx.catalog,
        &fx.id,
        None,
        &SystemClock,
        policy,
        &ManifestCache::new(),
        |table| async move {
            // The first build races another writer, so its commit must lose.
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                fx_ref.append(late.clone()).await;
            }
            let live = paths_of_hour(&table, HOURS[0]).await;
            assert!(
                change.remove.iter().all(|p| live.contains(p)),
                "re-validated on fresh metadata"
            );
            Ok::<_, ()>(change.clone())
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.conflicts, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let Retried::Committed(committed) = outcome.result else { panic!("not committed") };
    let after = fx.load().await;
    assert_eq!(after.metadata().current_snapshot().unwrap().snapshot_id(), committed.snapshot_id);
    assert_eq!(rows_per_hour(&after, None).await, expected);
    assert_totals_match_walk(&after).await;

    // A builder that declines ends the call without committing.
    let location = after.metadata_location().unwrap().to_string();
    let outcome = commit_with_retry(
        &fx.catalog,
        &fx.id,
        None,
        &SystemClock,
        policy,
        &ManifestCache::new(),
        |_| async { Err::<SnapshotChange, _>("nothing expired") },
    )
    .await
    .unwrap();
    assert!(matches!(outcome.result, Retried::Abandoned("nothing expired")));
    // Jobs run on a multi-threaded runtime: the retry loop must be Send with a Send builder.
    fn assert_send<T: Send>(_: &T) {}
    let cache = ManifestCache::new();
    let retry =
        commit_with_retry(&fx.catalog, &fx.id, None, &SystemClock, policy, &cache, |_| async {
            Err::<SnapshotChange, _>(())
        });
    assert_send(&retry);
    assert_eq!(fx.load().await.metadata_location(), Some(location.as_str()));
}

#[tokio::test]
async fn removing_files_that_are_gone_is_refused_without_writing_anything() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS, 2, ROWS).await;
    let planned = fx.load().await;
    let change = compaction(&planned, HOURS[0]).await;

    // Retention drops the hour first.
    let drop = SnapshotChange::delete(paths_of_hour(&planned, HOURS[0]).await);
    commit(&fx.catalog, &fx.id, None, stage(&planned, &drop, now_ms()).await.unwrap())
        .await
        .unwrap();

    let fresh = fx.load().await;
    let metadata_dir = format!("{}/metadata", fresh.metadata().location());
    let count =
        || std::fs::read_dir(metadata_dir.strip_prefix("file://").unwrap()).unwrap().count();
    let files_before = count();
    let err = stage(&fresh, &change, now_ms()).await.unwrap_err();
    let SnapshotError::FilesNoLongerLive { missing } = err else { panic!("{err}") };
    assert_eq!(missing.len(), 2);
    assert_eq!(count(), files_before, "a refused change wrote files");

    let change = &change;
    let policy = RetryPolicy::default();
    let outcome = commit_with_retry(
        &fx.catalog,
        &fx.id,
        None,
        &SystemClock,
        policy,
        &ManifestCache::new(),
        |_| async move { Ok::<_, ()>(change.clone()) },
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome.result, Retried::FilesNoLongerLive { ref missing } if missing.len() == 2)
    );
}

#[tokio::test]
async fn a_chain_of_commits_keeps_totals_equal_to_a_manifest_walk() {
    let fx = Fixture::new().await;
    let mut expected = fx.fill(&HOURS, 4, ROWS).await;

    let table = fx.load().await;
    let change = compaction(&table, HOURS[0]).await;
    commit(&fx.catalog, &fx.id, None, stage(&table, &change, now_ms()).await.unwrap())
        .await
        .unwrap();
    let table = fx.load().await;
    assert_totals_match_walk(&table).await;

    let change = SnapshotChange::delete(paths_of_hour(&table, HOURS[1]).await);
    commit(&fx.catalog, &fx.id, None, stage(&table, &change, now_ms()).await.unwrap())
        .await
        .unwrap();
    expected.remove(&HOURS[1]);
    let table = fx.load().await;
    assert_totals_match_walk(&table).await;

    let change = compaction(&table, HOURS[2]).await;
    commit(&fx.catalog, &fx.id, None, stage(&table, &change, now_ms()).await.unwrap())
        .await
        .unwrap();
    let table = fx.load().await;
    assert_totals_match_walk(&table).await;
    assert_eq!(rows_per_hour(&table, None).await, expected);
    assert_eq!(live(&table).await.len(), 2);
    assert_eq!(summary(&table, "total-records"), 8 * ROWS as i64);

    let mut snapshots: Vec<_> = table.metadata().snapshots().collect();
    snapshots.sort_by_key(|s| s.sequence_number());
    let ops: Vec<_> =
        snapshots.iter().map(|s| s.summary().operation.as_str().to_string()).collect();
    assert_eq!(ops[4..], ["replace", "delete", "replace"]);
}

#[tokio::test]
async fn a_commit_superseded_by_other_writers_is_still_recognised_as_applied() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS, 2, ROWS).await;
    let table = fx.load().await;
    let drop = SnapshotChange::delete(paths_of_hour(&table, HOURS[0]).await);
    let ours = commit(&fx.catalog, &fx.id, None, stage(&table, &drop, now_ms()).await.unwrap())
        .await
        .unwrap()
        .metadata_location;
    // Another writer commits on top: the table no longer points at our metadata...
    fx.fill(&HOURS[1..], 1, ROWS).await;
    let after = fx.load().await;
    assert_ne!(after.metadata_location(), Some(ours.as_str()));
    // ...but descends from it, which is how an errored swap is recognised as applied.
    assert!(commit::reaches(&after, &ours));
    assert!(!commit::reaches(&after, &ours.replace(".metadata.json", "-other.metadata.json")));
}
