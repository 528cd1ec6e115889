//! End-to-end: generate into a temporary SQLite catalog and local warehouse, then read the
//! tables back through Iceberg and compare with the report.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMicrosecondType};
use common::TableKind;
use common::config::{SchemaConfig, StorageConfig};
use common::storage::Warehouse;
use common::tables::signaldb;
use futures::TryStreamExt;
use iceberg::Catalog;

use super::*;

/// 2024-03-05T14:00:00Z.
const END_HOUR: i64 = 474_998;

async fn connect(dir: &Path) -> Arc<SignalCatalog> {
    let storage = StorageConfig {
        dsn: format!("file://{}", dir.join("storage").display()),
        ..StorageConfig::default()
    };
    let schema = SchemaConfig {
        catalog_uri: format!("sqlite://{}", dir.join("catalog.db").display()),
        ..SchemaConfig::default()
    };
    let warehouse = Warehouse::open(&storage).unwrap();
    Arc::new(SignalCatalog::connect(&schema, &warehouse).await.unwrap())
}

fn plan(continuous: Option<Duration>) -> Plan {
    layout_plan(Layout::Classic, continuous)
}

fn layout_plan(layout: Layout, continuous: Option<Duration>) -> Plan {
    Plan {
        layout,
        tables: layout.tables().iter().map(|&t| TableId::new("acme", "prod", t).unwrap()).collect(),
        seed: 7,
        hours: 2,
        files_per_hour: 3,
        rows_per_file: 40,
        end_hour: END_HOUR,
        continuous,
    }
}

/// Rows per hour directory, checking on the way that every file's timestamps fall in the
/// hour its directory names.
async fn rows_per_hour(catalog: &SignalCatalog, id: &TableId) -> BTreeMap<String, usize> {
    rows_per_partition(catalog, id, "hour").await
}

/// Rows per directory `{field}=YYYY-MM-DD-HH`, checking on the way that every file's
/// timestamps fall in the hour its directory names, and that SignalDB's `hour` column, where
/// the table has one, is that hour of the day.
async fn rows_per_partition(
    catalog: &SignalCatalog,
    id: &TableId,
    field: &str,
) -> BTreeMap<String, usize> {
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let tasks: Vec<_> = table
        .scan()
        .select_all()
        .build()
        .unwrap()
        .plan_files()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for task in tasks {
        let path = task.data_file_path.clone();
        let prefix = format!("{field}=");
        let label = path.split('/').find_map(|seg| seg.strip_prefix(&prefix)).unwrap().to_string();
        let dir = format!("{}/data/{prefix}", table.metadata().location());
        assert!(path.starts_with(&dir), "{path}");
        let stream = futures::stream::iter([Ok(task)]).boxed();
        let batches: Vec<_> = table
            .reader_builder()
            .build()
            .read(stream)
            .unwrap()
            .stream()
            .try_collect()
            .await
            .unwrap();
        for b in batches {
            let ts =
                b.column_by_name("timestamp").unwrap().as_primitive::<TimestampMicrosecondType>();
            for t in ts.values() {
                assert_eq!(hour_label(t.div_euclid(US_PER_HOUR)), label, "{path}");
            }
            if let Some(hour) = b.column_by_name("hour") {
                let of_day = &label[label.len() - 2..];
                for h in hour.as_primitive::<Int32Type>().values() {
                    assert_eq!(format!("{h:02}"), of_day, "{path}");
                }
            }
            *out.entry(label.clone()).or_default() += b.num_rows();
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_dated_rows_read_back_per_hour_and_repeat_exactly() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_tx, never) = Shutdown::manual();
    let catalog = connect(dir_a.path()).await;
    let a = run(catalog.clone(), &plan(None), never.clone()).await.unwrap();
    let b = run(connect(dir_b.path()).await, &plan(None), never).await.unwrap();
    assert_eq!(a.checksum_hex(), b.checksum_hex());
    assert!(!a.interrupted);
    assert_eq!((a.total_files(), a.total_rows(), a.total_snapshots()), (18, 720, 6));

    for t in &a.tables {
        let per_hour = rows_per_hour(&catalog, &t.id).await;
        let expected: BTreeMap<String, usize> =
            [END_HOUR - 1, END_HOUR].map(|h| (hour_label(h), 120)).into();
        assert_eq!(per_hour, expected, "{}", t.id);
        let table = catalog.catalog().load_table(&t.id.ident()).await.unwrap();
        assert_eq!(table.metadata().snapshots().count(), 2, "one snapshot per hour");
    }

    // Running again appends the same rows once more: same checksum, twice the data.
    let (_tx, never) = Shutdown::manual();
    let again = run(catalog.clone(), &plan(None), never).await.unwrap();
    assert_eq!(again.checksum_hex(), a.checksum_hex());
    let per_hour = rows_per_hour(&catalog, &a.tables[0].id).await;
    assert_eq!(per_hour.values().sum::<usize>(), 480);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_appends_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = connect(dir.path()).await;
    let (tx, shutdown) = Shutdown::manual();
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        tx.send_replace(true);
        tx
    });
    let plan = Plan { hours: 0, ..plan(Some(Duration::from_millis(20))) };
    let report = run(catalog.clone(), &plan, shutdown).await.unwrap();
    drop(stopper.await.unwrap());
    let now_hour = Utc::now().timestamp_micros().div_euclid(US_PER_HOUR);
    for t in &report.tables {
        assert!(t.snapshots >= 2, "{}: {} snapshots", t.id, t.snapshots);
        assert_eq!(t.files, t.snapshots, "one file per tick");
        let per_hour = rows_per_hour(&catalog, &t.id).await;
        assert_eq!(per_hour.values().sum::<usize>() as u64, t.rows);
        assert!(
            per_hour.keys().all(|l| *l == hour_label(now_hour) || *l == hour_label(now_hour - 1))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signaldb_layout_creates_its_eight_tables_and_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = connect(dir.path()).await;
    let (_tx, never) = Shutdown::manual();
    let plan = layout_plan(Layout::Signaldb, None);
    let report = run(catalog.clone(), &plan, never.clone()).await.unwrap();
    assert_eq!(report.tables.len(), 8);
    assert_eq!((report.total_files(), report.total_rows()), (48, 1_920));
    let json = report.to_json();
    assert_eq!(json["layout"], "signaldb");
    assert_eq!(json["tables"][6]["table"], "metrics_summary");

    let ns = iceberg::NamespaceIdent::from_strs(["acme", "prod"]).unwrap();
    let mut names: Vec<String> = catalog
        .catalog()
        .list_tables(&ns)
        .await
        .unwrap()
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    names.sort();
    let mut expected: Vec<&str> = TableKind::SIGNALDB.iter().map(|t| t.as_str()).collect();
    expected.sort();
    assert_eq!(names, expected);

    for t in &report.tables {
        let kind = t.id.table;
        let table = catalog.catalog().load_table(&t.id.ident()).await.unwrap();
        let md = table.metadata();
        let schema = signaldb::schema(kind).unwrap();
        assert_eq!(md.current_schema().as_struct(), schema.as_struct(), "{kind}");
        let ts = schema.field_by_name("timestamp").unwrap().id;
        let spec = md.default_partition_spec();
        assert_eq!(spec.spec_id(), 0);
        let [field] = spec.fields() else { panic!("{kind}: one partition field") };
        assert_eq!(field.name, signaldb::PARTITION_FIELD);
        assert_eq!((field.source_id, field.field_id), (ts, 1000 + ts), "{kind}");
        assert_eq!(md.last_partition_id(), 1000 + ts);
        assert_eq!(**md.default_sort_order(), signaldb::sort_order(kind).unwrap(), "{kind}");
        for (k, v) in signaldb::properties(kind) {
            assert_eq!(md.properties().get(&k), Some(&v), "{kind}: {k}");
        }
        assert_eq!(md.snapshots().count(), 2, "{kind}: one snapshot per hour");
        let per_hour = rows_per_partition(&catalog, &t.id, signaldb::PARTITION_FIELD).await;
        let expected: BTreeMap<String, usize> =
            [END_HOUR - 1, END_HOUR].map(|h| (hour_label(h), 120)).into();
        assert_eq!(per_hour, expected, "{kind}");
        // Every data file records its hour as the partition value.
        let manifests =
            table.manifest_list_reader(md.current_snapshot().unwrap()).load().await.unwrap();
        for manifest in manifests.entries() {
            for entry in manifest.load_manifest(table.file_io()).await.unwrap().entries() {
                let value = entry.data_file().partition()[0].clone();
                let hours =
                    [END_HOUR - 1, END_HOUR].map(|h| Some(iceberg::spec::Literal::int(h as i32)));
                assert!(hours.contains(&value), "{kind}: {value:?}");
            }
        }
    }

    // Running again loads the tables and appends the same rows.
    let again = run(catalog.clone(), &plan, never.clone()).await.unwrap();
    assert_eq!(again.checksum_hex(), report.checksum_hex());
    // The classic layout refuses the SignalDB `traces` table.
    let e = run(catalog.clone(), &plan_of_classic_traces(), never).await.unwrap_err();
    assert!(format!("{e:#}").contains("belongs to another layout"), "{e:#}");
}

fn plan_of_classic_traces() -> Plan {
    Plan { tables: vec![TableId::new("acme", "prod", TableKind::Traces).unwrap()], ..plan(None) }
}
