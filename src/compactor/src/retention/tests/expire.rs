//! Which snapshots expiration removes: the oldest beyond the number to keep, never the current
//! one and never one a branch or tag points to; and the metadata-only commit that removes them.

use std::collections::BTreeSet;

use common::clock::SystemClock;

use super::fixture::{BASE_HOUR, Fixture, rows_per_hour};
use super::{add_ref, snapshot_ids};
use crate::live_files::ManifestCache;
use crate::retention::expire::{SnapshotInfo, expire, plan, refs, select};
use crate::snapshot::RetryPolicy;

fn info(snapshot_id: i64, sequence_number: i64) -> SnapshotInfo {
    SnapshotInfo { snapshot_id, sequence_number, timestamp_ms: 1_000 * sequence_number }
}

fn ids(s: &[SnapshotInfo]) -> Vec<i64> {
    s.iter().map(|s| s.snapshot_id).collect()
}

#[test]
fn keeps_the_most_recent_by_sequence_number_whatever_the_metadata_order() {
    let snapshots = [info(50, 5), info(10, 1), info(40, 4), info(20, 2), info(30, 3)];
    let none = BTreeSet::new();
    assert_eq!(ids(&select(&snapshots, &none, 2)), [10, 20, 30], "oldest first");
    assert_eq!(ids(&select(&snapshots, &none, 5)), Vec::<i64>::new());
    assert_eq!(ids(&select(&snapshots, &none, 9)), Vec::<i64>::new());
    let protected = BTreeSet::from([10, 30]);
    assert_eq!(ids(&select(&snapshots, &protected, 1)), [20, 40]);
    // Equal sequence numbers (a v1 history) fall back to the commit time.
    let v1 = [
        SnapshotInfo { snapshot_id: 7, sequence_number: 0, timestamp_ms: 2 },
        SnapshotInfo { snapshot_id: 8, sequence_number: 0, timestamp_ms: 1 },
    ];
    assert_eq!(ids(&select(&v1, &none, 1)), [8]);
}

#[tokio::test]
async fn never_the_current_snapshot_nor_a_referenced_one_and_never_fewer_than_one() {
    let fx = Fixture::new().await;
    fx.fill(&[BASE_HOUR], 5, 10).await;
    let all = snapshot_ids(&fx.load().await);
    assert_eq!(all.len(), 5);
    add_ref(&fx, "audit", all[0], false).await;
    add_ref(&fx, "dev", all[1], true).await;
    let table = fx.load().await;
    let named = refs(table.metadata()).unwrap();
    assert_eq!(named.get("audit"), Some(&all[0]));
    assert_eq!(named.get("dev"), Some(&all[1]));
    assert_eq!(named.get("main"), Some(&all[4]));

    let md = table.metadata();
    assert_eq!(ids(&plan(md, 1, false).unwrap()), [all[2], all[3]]);
    assert_eq!(ids(&plan(md, 0, false).unwrap()), [all[2], all[3]], "0 keeps one");
    assert_eq!(ids(&plan(md, 3, false).unwrap()), Vec::<i64>::new());
    // With a drop about to become current, it takes one place and `main` moves to it.
    assert_eq!(ids(&plan(md, 2, true).unwrap()), [all[2], all[3]]);
    assert_eq!(ids(&plan(md, 1, true).unwrap()), [all[2], all[3], all[4]]);

    let rows = rows_per_hour(&table, None).await;
    let before = table.metadata_location().unwrap().to_string();
    let outcome = expire_keeping_one(&fx).await;
    assert_eq!(ids(&outcome.expired), [all[2], all[3]]);
    assert_eq!((outcome.kept, outcome.conflicts), (3, 0));
    let after = fx.load().await;
    assert_ne!(after.metadata_location(), Some(before.as_str()));
    assert_eq!(snapshot_ids(&after), [all[0], all[1], all[4]]);
    assert_eq!(after.metadata().current_snapshot_id(), Some(all[4]));
    assert_eq!(refs(after.metadata()).unwrap(), named, "every ref kept");
    assert_eq!(rows_per_hour(&after, None).await, rows);
    assert_eq!(
        rows_per_hour(&after, Some(all[0])).await.values().sum::<usize>(),
        10,
        "tag readable"
    );
    assert!(after.file_io().exists(&before).await.unwrap(), "old metadata is not deleted here");
    let log = after.metadata().metadata_log();
    assert_eq!(log.last().map(|l| l.metadata_file.as_str()), Some(before.as_str()));

    // Nothing left to expire: no commit.
    let location = after.metadata_location().unwrap().to_string();
    let outcome = expire_keeping_one(&fx).await;
    assert!(outcome.expired.is_empty());
    assert_eq!(fx.load().await.metadata_location(), Some(location.as_str()));
}

#[test]
fn losing_every_attempt_is_contention_and_other_failures_are_not() {
    use crate::retention::RetentionError;

    assert!(RetentionError::ExpireConflicts { attempts: 5 }.is_contention());
    let unstable = RetentionError::DropUnstable { missing: vec!["a.parquet".into()] };
    assert!(!unstable.is_contention(), "{unstable}");
    let broken = iceberg::Error::new(iceberg::ErrorKind::DataInvalid, "bad manifest");
    assert!(!RetentionError::iceberg("read manifests")(broken).is_contention());
}

/// Expires the snapshots of `fx`'s table beyond the most recent one.
async fn expire_keeping_one(fx: &Fixture) -> crate::retention::expire::ExpireOutcome {
    let retry = RetryPolicy::default();
    expire(&fx.catalog, &fx.id, None, &SystemClock, 1, retry, &ManifestCache::new()).await.unwrap()
}
