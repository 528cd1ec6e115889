//! End-to-end: generate into a temporary SQLite catalog and local warehouse, then read the
//! tables back through Iceberg and compare with the report.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use common::Signal;
use common::config::{SchemaConfig, StorageConfig};
use common::storage::Warehouse;
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
    Plan {
        tables: Signal::ALL.map(|s| TableId::new("acme", "prod", s).unwrap()).to_vec(),
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
        let label = path.split('/').find_map(|seg| seg.strip_prefix("hour=")).unwrap().to_string();
        assert!(path.starts_with(&format!("{}/data/hour=", table.metadata().location())), "{path}");
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
            let ts = b.column(0).as_primitive::<TimestampMicrosecondType>();
            for t in ts.values() {
                assert_eq!(hour_label(t.div_euclid(US_PER_HOUR)), label, "{path}");
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
