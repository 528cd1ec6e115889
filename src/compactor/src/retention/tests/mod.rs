// A SQLite catalog and a `logs` table filled by fast appends, shared by the crate's tests.
use crate::test_support as fixture;

mod expire;
mod partitions;
mod policy;
mod step;

use chrono::{DateTime, Utc};

/// The start of hour `hour` (since the epoch).
fn hour_start(hour: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(hour * 3_600, 0).unwrap()
}

/// `s` parsed as RFC 3339.
fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Points a new tag (or branch) `name` of the fixture's table at `snapshot_id`, committed with
/// the catalog's compare-and-swap as any client would.
async fn add_ref(fx: &fixture::Fixture, name: &str, snapshot_id: i64, branch: bool) {
    use std::str::FromStr;

    use iceberg::MetadataLocation;
    use iceberg::spec::{SnapshotReference, SnapshotRetention, TableMetadataBuilder};

    let table = fx.load().await;
    let old = table.metadata_location().unwrap().to_string();
    let retention = if branch {
        SnapshotRetention::Branch {
            min_snapshots_to_keep: None,
            max_snapshot_age_ms: None,
            max_ref_age_ms: None,
        }
    } else {
        SnapshotRetention::Tag { max_ref_age_ms: None }
    };
    let md = TableMetadataBuilder::new_from_metadata(table.metadata().clone(), Some(old.clone()))
        .set_ref(name, SnapshotReference::new(snapshot_id, retention))
        .unwrap()
        .build()
        .unwrap()
        .metadata;
    let location =
        MetadataLocation::from_str(&old).unwrap().with_next_version().with_new_metadata(&md);
    md.write_to(table.file_io(), &location).await.unwrap();
    let swapped =
        fx.catalog.swap_metadata_location(&fx.id.ident(), &old, &location.to_string()).await;
    assert!(swapped.unwrap(), "the ref commit lost a race");
}

/// Snapshot ids of `table`, oldest first by sequence number.
fn snapshot_ids(table: &iceberg::table::Table) -> Vec<i64> {
    let mut s: Vec<_> =
        table.metadata().snapshots().map(|s| (s.sequence_number(), s.snapshot_id())).collect();
    s.sort();
    s.into_iter().map(|(_, id)| id).collect()
}
