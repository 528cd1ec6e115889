//! The metadata log stays bounded: a commit trims it to `write.metadata.previous-versions-max`
//! and, when the table sets `write.metadata.delete-after-commit.enabled`, deletes the files it
//! dropped; otherwise they stay on storage for orphan cleanup.

use iceberg::transaction::{ApplyTransactionAction, Transaction};

use super::{HOURS, ROWS, exists};
use crate::snapshot::{RemoveSnapshots, commit, stage_removal};
use crate::test_support::Fixture;

/// Metadata files in `table`'s log.
fn logged(table: &iceberg::table::Table) -> Vec<String> {
    table.metadata().metadata_log().iter().map(|l| l.metadata_file.clone()).collect()
}

async fn trimmed_by_our_commit(delete_after_commit: bool) {
    let fx = Fixture::new().await;
    let table = fx.load().await;
    let tx = Transaction::new(&table);
    let tx = tx
        .update_table_properties()
        .set("write.metadata.previous-versions-max".into(), "2".into())
        .set("write.metadata.delete-after-commit.enabled".into(), delete_after_commit.to_string())
        .apply(tx)
        .unwrap();
    tx.commit(fx.catalog.catalog()).await.unwrap();
    fx.fill(&HOURS, 3, ROWS).await;
    let before = fx.load().await;
    let log_before = logged(&before);
    assert!(log_before.len() <= 2, "{log_before:?}");

    let oldest = before.metadata().snapshots().min_by_key(|s| s.sequence_number()).unwrap();
    let change = RemoveSnapshots { snapshot_ids: vec![oldest.snapshot_id()] };
    let staged = stage_removal(&before, &change).await.unwrap();
    let superseded = staged.superseded.clone();
    commit(&fx.catalog, &fx.id, None, staged).await.unwrap();

    let after = fx.load().await;
    let log_after = logged(&after);
    assert_eq!(log_after.len(), 2, "{log_after:?}");
    let dropped: Vec<&String> = log_before.iter().filter(|f| !log_after.contains(f)).collect();
    assert_eq!(dropped.len(), 1, "{log_before:?} -> {log_after:?}");
    assert_eq!(exists(&after, dropped[0]).await, !delete_after_commit, "{}", dropped[0]);
    let expected: Vec<String> = if delete_after_commit { vec![dropped[0].clone()] } else { vec![] };
    assert_eq!(superseded, expected);
    for kept in log_after.iter().map(String::as_str).chain(after.metadata_location()) {
        assert!(exists(&after, kept).await, "{kept}");
    }
}

#[tokio::test]
async fn a_commit_trims_the_log_and_deletes_what_it_dropped_when_asked() {
    trimmed_by_our_commit(true).await;
}

#[tokio::test]
async fn without_the_property_dropped_metadata_files_stay_for_orphan_cleanup() {
    trimmed_by_our_commit(false).await;
}
