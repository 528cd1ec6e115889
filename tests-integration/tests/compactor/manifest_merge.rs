//! Manifest merging end to end: a table whose hours are each their own fast append (as the
//! load generator and streaming writers commit) and that has nothing to compact gets one
//! metadata-only `replace` merging its manifests; the live files, their snapshot ids and
//! sequence numbers, the rows (for pyiceberg, iceberg-rust and DuckDB) and an older
//! snapshot's rows stay the same, and each merged manifest's partition summary covers its entries.

use std::collections::BTreeMap;

use common::TableKind;
use iceberg::Catalog;
use iceberg::spec::{ManifestStatus, PrimitiveLiteral};
use iceberg::table::Table;
use tests_integration::duckdb_read::duckdb_scans;
use tests_integration::iceberg_read::rows_per_hour_at;
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::spark_read::assert_spark_reads;
use tests_integration::{Backend, TestEnv, require_python};

use super::{Load, compactor, json_ok, table_entry};

/// 24 quiet hours of two small files each: 24 fast appends, 24 manifests.
const DAY: Load =
    Load { signals: &[TableKind::Traces], hours: 24, files_per_hour: 2, rows_per_file: 50 };

#[tokio::test]
async fn manifests_are_merged_on_sqlite_local() {
    manifests_are_merged(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn manifests_are_merged_on_postgres_s3() {
    manifests_are_merged(Backend::PostgresS3).await;
}

/// Every live entry of the current snapshot by path: (status, snapshot id, sequence numbers).
async fn entries(table: &Table) -> BTreeMap<String, (ManifestStatus, i64, i64, Option<i64>)> {
    let mut out = BTreeMap::new();
    let snapshot = table.metadata().current_snapshot().unwrap();
    let list = table.manifest_list_reader(snapshot).load().await.unwrap();
    for file in list.entries() {
        let manifest = file.load_manifest(table.file_io()).await.unwrap();
        for e in manifest.entries().iter().filter(|e| e.is_alive()) {
            let seq = (e.snapshot_id().unwrap(), e.sequence_number().unwrap());
            let value = (e.status(), seq.0, seq.1, e.file_sequence_number);
            out.insert(e.file_path().to_string(), value);
        }
    }
    out
}

/// Checks that each manifest's `hour` summary bounds the hours of its entries, returning how
/// many manifests the current snapshot lists.
async fn check_partition_summaries(table: &Table) -> usize {
    let snapshot = table.metadata().current_snapshot().unwrap();
    let list = table.manifest_list_reader(snapshot).load().await.unwrap();
    for file in list.entries() {
        let manifest = file.load_manifest(table.file_io()).await.unwrap();
        let hours: Vec<i32> = manifest
            .entries()
            .iter()
            .map(|e| match e.data_file().partition().fields()[0].as_ref() {
                Some(iceberg::spec::Literal::Primitive(PrimitiveLiteral::Int(h))) => *h,
                other => panic!("hour {other:?}"),
            })
            .collect();
        let summary = &file.partitions.as_ref().expect("partition summaries")[0];
        // Single-value serialisation of an int: four bytes, little-endian.
        let bound = |b: Option<&Vec<u8>>| {
            let bytes = b.unwrap_or_else(|| panic!("no bound in {}", file.manifest_path));
            i32::from_le_bytes(bytes.as_slice().try_into().expect("an int bound"))
        };
        let lower = bound(summary.lower_bound.as_deref());
        let upper = bound(summary.upper_bound.as_deref());
        assert_eq!(lower, *hours.iter().min().unwrap(), "{}", file.manifest_path);
        assert_eq!(upper, *hours.iter().max().unwrap(), "{}", file.manifest_path);
    }
    list.entries().len()
}

async fn manifests_are_merged(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    // Nothing qualifies for compaction: only merging can change the table.
    env.append_config("[compactor]\nmin_input_files = 1000\nmanifest_merge_min_count = 10");
    let ids = DAY.run(&env);
    let id = &ids[0];
    let catalog = env.catalog().await;
    let before = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let old_snapshot = before.metadata().current_snapshot().unwrap().snapshot_id();
    assert_eq!(check_partition_summaries(&before).await, 24);
    let entries_before = entries(&before).await;
    let read_before = read_by_hour(&env, &ids);

    let plan = json_ok(&compactor(&env, &["compact", "--dry-run", "--json"]));
    assert_eq!(table_entry(&plan, id)["details"]["manifests"]["would_merge"], 24, "{plan}");

    let report = json_ok(&compactor(&env, &["compact", "--json"]));
    let manifests = &table_entry(&report, id)["details"]["manifests"];
    assert_eq!(manifests["before"], 24, "{report}");
    assert_eq!(manifests["after"], 1, "{report}");
    assert_eq!(manifests["rewritten"], 24, "{report}");
    assert_eq!(manifests["written"], 1, "{report}");
    let merge_snapshot = manifests["merge_snapshot_id"].as_i64().expect("a merge snapshot");

    let after = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let current = after.metadata().current_snapshot().unwrap();
    assert_eq!(current.snapshot_id(), merge_snapshot);
    assert_eq!(current.summary().operation.as_str(), "replace");
    assert_eq!(current.parent_snapshot_id(), Some(old_snapshot));
    assert_eq!(check_partition_summaries(&after).await, 1);
    // The same files, EXISTING now, each with the snapshot and sequence numbers it had.
    let entries_after = entries(&after).await;
    assert_eq!(entries_after.len(), entries_before.len());
    for (path, (status, snapshot, seq, file_seq)) in &entries_after {
        assert_eq!(*status, ManifestStatus::Existing, "{path}");
        let (_, old_snapshot, old_seq, old_file_seq) = entries_before[path];
        assert_eq!((*snapshot, *seq, *file_seq), (old_snapshot, old_seq, old_file_seq), "{path}");
    }
    let summary = &current.summary().additional_properties;
    assert_eq!(summary["manifests-replaced"], "24");
    assert_eq!(summary["manifests-created"], "1");
    assert_eq!(summary["total-data-files"], (DAY.hours * DAY.files_per_hour).to_string());

    let key = id.to_string();
    let read_after = read_by_hour(&env, &ids);
    assert_eq!(read_after[&key].content, read_before[&key].content);
    assert_eq!(read_after[&key].files, read_before[&key].files);
    assert_spark_reads(&env, &key, &read_after[&key].read["rows_sha256"], "the manifest merge");
    let now = rows_per_hour_at(&after, None).await.unwrap();
    let pinned = rows_per_hour_at(&after, Some(old_snapshot)).await.unwrap();
    assert_eq!(now, read_before[&key].rows_per_hour());
    assert_eq!(pinned, now, "a reader pinned to the snapshot before the merge");
    // DuckDB reads the merged table, and the snapshot before the merge, from the same files.
    let location = after.metadata_location().unwrap();
    let duck = duckdb_scans(&env, &[(location, None), (location, Some(old_snapshot))]);
    for scan in &duck {
        assert_eq!(scan.rows_per_hour, now, "DuckDB at {:?}", scan.snapshot_id);
        assert_eq!(scan.total_rows, scan.rows_read(), "DuckDB at {:?}", scan.snapshot_id);
        assert_eq!(
            scan.files_per_hour, read_before[&key].files,
            "DuckDB at {:?}",
            scan.snapshot_id
        );
    }

    // Below the count again: a second pass leaves the manifests alone.
    let again = json_ok(&compactor(&env, &["compact", "--json"]));
    let manifests = &table_entry(&again, id)["details"]["manifests"];
    assert_eq!((manifests["before"].clone(), manifests["after"].clone()), (1.into(), 1.into()));
    assert_eq!(manifests["rewritten"], 0, "{again}");
    let last = catalog.catalog().load_table(&id.ident()).await.unwrap();
    assert_eq!(last.metadata().current_snapshot().unwrap().snapshot_id(), merge_snapshot);
}
