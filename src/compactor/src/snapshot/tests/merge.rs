//! Merging small manifests: the same live files with the same snapshot ids and sequence
//! numbers, fewer manifests clustered by hour, older snapshots still readable.

use std::collections::BTreeMap;

use iceberg::transaction::{ApplyTransactionAction, Transaction};

use super::*;
use crate::live_files::manifest_list;

/// Merges once a snapshot lists more than four manifests, into manifests of `target` bytes.
fn policy(target: u64) -> MergePolicy {
    MergePolicy { min_count: 4, target_size_bytes: target }
}

/// Every live entry by path: (hour, snapshot id, sequence number, records).
async fn live_by_path(table: &Table) -> BTreeMap<String, (i64, i64, i64, u64)> {
    let entries = live(table).await.into_iter();
    entries.map(|e| (e.path, (e.hour, e.snapshot_id, e.sequence_number, e.records))).collect()
}

/// The hours each manifest of the current snapshot holds live entries of.
async fn hours_per_manifest(table: &Table) -> Vec<Vec<i64>> {
    let mut out = Vec::new();
    for file in manifest_list(table).await.unwrap() {
        let manifest = file.load_manifest(table.file_io()).await.unwrap();
        let mut hours: Vec<i64> = manifest
            .entries()
            .iter()
            .filter(|e| e.is_alive())
            .map(|e| match e.data_file().partition().fields()[0].as_ref() {
                Some(iceberg::spec::Literal::Primitive(iceberg::spec::PrimitiveLiteral::Int(
                    h,
                ))) => i64::from(*h),
                other => panic!("partition value {other:?}"),
            })
            .collect();
        hours.dedup();
        out.push(hours);
    }
    out
}

#[tokio::test]
async fn a_metadata_only_merge_keeps_every_entry_and_clusters_by_hour() {
    let fx = Fixture::new().await;
    let expected = fx.fill(&HOURS, 8, ROWS).await;
    let before = fx.load().await;
    let old = before.metadata().current_snapshot().unwrap().snapshot_id();
    assert_eq!(manifest_list(&before).await.unwrap().len(), 8);
    let entries_before = live_by_path(&before).await;

    // A target of one byte per entry would split every file apart; a few hundred bytes
    // leaves room for about one hour's entries per manifest.
    let first = &manifest_list(&before).await.unwrap()[0];
    let per_entry = first.manifest_length as u64 / 3;
    let change = SnapshotChange::merge_manifests(policy(per_entry * 8));
    let staged = stage(&before, &change, now_ms()).await.unwrap();
    let merge = staged.effect.merge.expect("the merge is due");
    assert_eq!((merge.replaced, merge.entries), (8, 24));
    let outcome = commit(&fx.catalog, &fx.id, None, staged).await.unwrap();

    let after = fx.load().await;
    let snapshot = after.metadata().current_snapshot().unwrap();
    assert_eq!(snapshot.summary().operation.as_str(), "replace");
    assert_eq!(outcome.manifests, merge.created);
    assert!(merge.created >= 3 && merge.created < 8, "{merge:?}");
    // Entries keep the snapshot that added them and their sequence numbers.
    assert_eq!(live_by_path(&after).await, entries_before);
    assert!(entries(&after).await.iter().all(|e| e.status == ManifestStatus::Existing));
    for hours in hours_per_manifest(&after).await {
        assert_eq!(hours.len(), 1, "a merged manifest holds one hour here: {hours:?}");
    }
    assert_eq!(summary(&after, "manifests-replaced"), 8);
    assert_eq!(summary(&after, "manifests-created"), merge.created as i64);
    assert_eq!(summary(&after, "entries-processed"), 24);
    assert_eq!(summary(&after, "manifests-kept"), 0);
    assert_eq!(summary(&after, "added-data-files"), 0);
    assert_totals_match_walk(&after).await;
    assert_eq!(rows_per_hour(&after, None).await, expected);
    // A reader pinned to the snapshot before the merge still reads it.
    assert_eq!(rows_per_hour(&after, Some(old)).await, expected);
}

#[tokio::test]
async fn a_large_target_packs_consecutive_hours_into_one_manifest() {
    let fx = Fixture::new().await;
    let expected = fx.fill(&HOURS, 6, ROWS).await;
    let before = fx.load().await;
    let change = SnapshotChange::merge_manifests(policy(8 << 20));
    commit(&fx.catalog, &fx.id, None, stage(&before, &change, now_ms()).await.unwrap())
        .await
        .unwrap();
    let after = fx.load().await;
    assert_eq!(hours_per_manifest(&after).await, vec![HOURS.to_vec()]);
    assert_eq!(rows_per_hour(&after, None).await, expected);
}

#[tokio::test]
async fn a_replace_merges_when_its_snapshot_would_list_too_many_manifests() {
    let fx = Fixture::new().await;
    // Four appends, so that `compaction` rewrites the first hour's rows exactly; its snapshot
    // would list the four touched manifests' survivors, the removed and the added: six.
    let expected = fx.fill(&HOURS, 4, ROWS).await;
    let before = fx.load().await;
    let change = compaction(&before, HOURS[0]).await.with_manifest_merge(policy(8 << 20));
    let added = change.add[0].file_path().to_string();
    let staged = stage(&before, &change, now_ms()).await.unwrap();
    let merge = staged.effect.merge.expect("six manifests exceed four");
    assert_eq!((merge.replaced, merge.entries), (4, 8));
    commit(&fx.catalog, &fx.id, None, staged).await.unwrap();

    let after = fx.load().await;
    // The merged survivors, the removed entries and the added file.
    assert_eq!(manifest_list(&after).await.unwrap().len(), 3);
    assert_eq!(paths_of_hour(&after, HOURS[0]).await, vec![added]);
    assert_eq!(live(&after).await.len(), 1 + 2 * 4);
    assert_eq!(summary(&after, "deleted-data-files"), 4);
    assert_eq!(summary(&after, "manifests-kept"), 0);
    assert_totals_match_walk(&after).await;
    assert_eq!(rows_per_hour(&after, None).await, expected);
}

#[tokio::test]
async fn nothing_is_merged_below_the_count_or_when_the_table_turns_merging_off() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS, 2, ROWS).await;
    let table = fx.load().await;
    let merge = SnapshotChange::merge_manifests(policy(8 << 20));
    let err = stage(&table, &merge, now_ms()).await.unwrap_err();
    assert!(matches!(err, SnapshotError::InvalidChange { .. }), "{err}");
    let replace = compaction(&table, HOURS[0]).await.with_manifest_merge(policy(8 << 20));
    assert!(stage(&table, &replace, now_ms()).await.unwrap().effect.merge.is_none());

    let table = fx.load().await;
    let tx = Transaction::new(&table);
    let tx =
        tx.update_table_properties().set(MERGE_ENABLED.into(), "false".into()).apply(tx).unwrap();
    tx.commit(fx.catalog.catalog()).await.unwrap();
    fx.fill(&HOURS, 4, ROWS).await;
    let table = fx.load().await;
    assert_eq!(manifest_list(&table).await.unwrap().len(), 6);
    let err = stage(&table, &merge, now_ms()).await.unwrap_err();
    assert!(matches!(err, SnapshotError::InvalidChange { .. }), "{err}");
}

#[tokio::test]
async fn live_files_skip_the_manifest_of_removed_entries() {
    let fx = Fixture::new().await;
    fx.fill(&HOURS[..1], 4, ROWS).await;
    let before = fx.load().await;
    let change = compaction(&before, HOURS[0]).await;
    commit(&fx.catalog, &fx.id, None, stage(&before, &change, now_ms()).await.unwrap())
        .await
        .unwrap();
    let after = fx.load().await;
    // The removed entries' manifest and the added file's.
    assert_eq!(manifest_list(&after).await.unwrap().len(), 2);
    let cache = ManifestCache::new();
    let files = crate::live_files::live_files_cached(&after, &cache).await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(cache.len(), 1, "only the manifest with a live entry is read");
}
