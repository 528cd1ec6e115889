//! `compactor compact` writes each quiet hour's rows sorted: every output file, read back with
//! the parquet crate, is in the table's order, the new files of an hour follow each other
//! without overlapping keys, every file records the order's `sort_order_id`, and each hour holds
//! exactly the rows it held (pyiceberg's per-hour digests), on SQLite + filesystem and
//! PostgreSQL + S3. A writer's own sort order is kept and followed; a sort forced to spill
//! sorts the same and leaves no spill file.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use arrow_array::{
    Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use common::TableKind;
use common::tables::{TableId, creation, default_sort_columns};
use iceberg::Catalog;
use iceberg::spec::{NullOrder, SortDirection, SortField, SortOrder, Transform};
use iceberg::table::Table;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use tests_integration::pyiceberg_hours::{PyTableByHour, read_by_hour};
use tests_integration::{Backend, TestEnv, require_python};

use super::{Load, compactor, executed, json_ok, table_entry};

/// Several target-size files per hour: inputs of about 14 to 30 KiB, 64 KiB targets.
const CONFIG: &str = "[compactor]\nmin_input_files = 3\ntarget_file_size_bytes = 65536\n\
                      small_file_threshold_bytes = 49152\n";

/// 2 quiet hours of 8 files of 500 rows in every signal's table.
const LOAD: Load = Load {
    signals: &[TableKind::Traces, TableKind::Logs, TableKind::Metrics],
    hours: 2,
    files_per_hour: 8,
    rows_per_file: 500,
};

/// A value of a sort column, comparable across files.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Null,
    Int(i64),
    Str(String),
}

/// One sort column as the plan reports it: name, descending, nulls first.
pub(super) type Column = (String, bool, bool);

/// The sort columns of a table's `--json` plan (`details.sort.columns`).
pub(super) fn plan_columns(details: &Value) -> Vec<Column> {
    let columns = details["sort"]["columns"].as_array().unwrap_or_else(|| panic!("{details}"));
    columns
        .iter()
        .map(|c| {
            let name = c["column"].as_str().unwrap().to_string();
            (name, c["descending"].as_bool().unwrap(), c["nulls_first"].as_bool().unwrap())
        })
        .collect()
}

fn key_at(column: &ArrayRef, i: usize) -> Key {
    if column.is_null(i) {
        return Key::Null;
    }
    let any = column.as_any();
    if let Some(a) = any.downcast_ref::<StringArray>() {
        Key::Str(a.value(i).to_string())
    } else if let Some(a) = any.downcast_ref::<Int32Array>() {
        Key::Int(a.value(i).into())
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        Key::Int(a.value(i))
    } else if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
        Key::Int(a.value(i))
    } else {
        panic!("unexpected sort column type {}", column.data_type())
    }
}

/// `a` against `b` under `columns`' directions and null orders.
fn compare(a: &[Key], b: &[Key], columns: &[Column]) -> Ordering {
    for ((x, y), (_, descending, nulls_first)) in a.iter().zip(b).zip(columns) {
        let order = match (x, y) {
            (Key::Null, Key::Null) => Ordering::Equal,
            (Key::Null, _) if *nulls_first => Ordering::Less,
            (Key::Null, _) => Ordering::Greater,
            (_, Key::Null) if *nulls_first => Ordering::Greater,
            (_, Key::Null) => Ordering::Less,
            _ if *descending => y.cmp(x),
            _ => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// The sort keys of every row of the data file at `path`, in file order.
async fn file_keys(table: &Table, path: &str, columns: &[Column]) -> Vec<Vec<Key>> {
    let bytes = table.file_io().new_input(path).unwrap().read().await.unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch.unwrap();
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|(name, _, _)| batch.column(batch.schema().index_of(name).unwrap()).clone())
            .collect();
        for i in 0..batch.num_rows() {
            out.push(arrays.iter().map(|a| key_at(a, i)).collect());
        }
    }
    out
}

/// The `sort_order_id` of every live data file of `table`'s current snapshot.
async fn sort_order_ids(table: &Table) -> BTreeMap<String, Option<i32>> {
    let md = table.metadata();
    let snapshot = md.current_snapshot().expect("a compacted table has a snapshot");
    let list = table.manifest_list_reader(snapshot).load().await.unwrap();
    let mut out = BTreeMap::new();
    for file in list.entries() {
        let manifest = file.load_manifest(table.file_io()).await.unwrap();
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            let data = entry.data_file();
            out.insert(data.file_path().to_string(), data.sort_order_id());
        }
    }
    out
}

/// Checks that every live file of every hour of `after` is sorted by `columns`, that the files
/// of an hour cover disjoint key ranges, and that each records `sort_order_id`; returns the
/// number of files of each hour.
pub(super) async fn assert_sorted_hours(
    key: &str,
    table: &Table,
    after: &PyTableByHour,
    columns: &[Column],
    sort_order_id: Option<i32>,
) -> BTreeMap<String, usize> {
    let ids = sort_order_ids(table).await;
    let mut files_per_hour = BTreeMap::new();
    for (hour, files) in &after.files {
        let mut ranges = Vec::new();
        for path in files {
            assert_eq!(ids.get(path), Some(&sort_order_id), "{key} {path}: sort_order_id");
            let keys = file_keys(table, path, columns).await;
            let sorted = keys.windows(2).all(|w| compare(&w[0], &w[1], columns).is_le());
            assert!(sorted, "{key} {path} is not sorted by {columns:?}");
            ranges.push((keys.first().unwrap().clone(), keys.last().unwrap().clone()));
        }
        ranges.sort_by(|a, b| compare(&a.0, &b.0, columns));
        for pair in ranges.windows(2) {
            let (prev_last, next_first) = (&pair[0].1, &pair[1].0);
            assert!(
                compare(prev_last, next_first, columns).is_le(),
                "{key} {hour}: files overlap ({prev_last:?} > {next_first:?})"
            );
        }
        files_per_hour.insert(hour.clone(), files.len());
    }
    files_per_hour
}

/// The rows of every hour are the rows it held before.
fn assert_same_rows(key: &str, before: &PyTableByHour, after: &PyTableByHour) {
    assert_eq!(after.read["rows_sha256"], before.read["rows_sha256"], "{key}");
    assert_eq!(after.content, before.content, "{key}: rows of each hour");
}

#[tokio::test]
async fn output_is_sorted_by_each_signals_order_on_sqlite_local() {
    output_is_sorted_by_each_signals_order(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn output_is_sorted_by_each_signals_order_on_postgres_s3() {
    output_is_sorted_by_each_signals_order(Backend::PostgresS3).await;
}

/// Runs `compactor compact --json` (it must succeed) and reads `ids` with pyiceberg before and
/// after.
fn compact_reading_before_and_after(
    env: &TestEnv,
    ids: &[TableId],
) -> (Value, BTreeMap<String, PyTableByHour>, BTreeMap<String, PyTableByHour>) {
    let before = read_by_hour(env, ids);
    let doc = json_ok(&compactor(env, &["compact", "--json"]));
    (doc, before, read_by_hour(env, ids))
}

/// Tables created by SignalDB carry their signal's sort order (id 1); compaction follows it.
async fn output_is_sorted_by_each_signals_order(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(CONFIG);
    let ids = LOAD.run(&env);
    let (doc, before, after) = compact_reading_before_and_after(&env, &ids);
    let catalog = env.catalog().await;
    for id in &ids {
        let key = id.to_string();
        let details = &table_entry(&doc, id)["details"];
        assert_eq!(details["sort"]["source"], "table", "{key}: {details}");
        assert_eq!(details["sort"]["sort_order_id"], 1, "{key}: {details}");
        let columns = plan_columns(details);
        let names: Vec<&str> = columns.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, default_sort_columns(id.signal()), "{key}");
        assert!(columns.iter().all(|c| !c.1 && c.2), "{key}: ascending, nulls first");
        let groups = executed(details);
        assert!(!groups.is_empty() && groups.iter().all(|g| g.committed()), "{key}: {groups:?}");

        assert_same_rows(&key, &before[&key], &after[&key]);
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        let files = assert_sorted_hours(&key, &table, &after[&key], &columns, Some(1)).await;
        assert_eq!(files.len(), LOAD.hours as usize, "{key}");
        if id.table == TableKind::Traces {
            // Several files per hour, so the order across files was checked too.
            assert!(files.values().all(|&n| n >= 2), "{key}: {files:?}");
        }
    }
}

/// A table whose writer set its own sort order (service name descending, nulls last, then
/// timestamp) keeps it, and compaction sorts by it rather than by the configured columns.
#[tokio::test]
async fn a_writer_set_sort_order_is_kept_and_followed() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(CONFIG);
    let id = TableId::new(super::TENANT, super::DATASET, TableKind::Traces).unwrap();
    let catalog = env.catalog().await;
    catalog.catalog().create_namespace(&id.namespace(), HashMap::new()).await.unwrap();
    let field = |source_id, direction, null_order| SortField {
        source_id,
        transform: Transform::Identity,
        direction,
        null_order,
    };
    let order = SortOrder {
        order_id: 1,
        fields: vec![
            field(7, SortDirection::Descending, NullOrder::Last),
            field(1, SortDirection::Ascending, NullOrder::First),
        ],
    };
    let request = creation(&id, catalog.warehouse_location());
    let mut request = request.unwrap();
    request.sort_order = Some(order);
    catalog.catalog().create_table(&id.namespace(), request).await.unwrap();
    let load = Load { signals: &[TableKind::Traces], ..LOAD };
    let ids = load.run(&env);
    let before = read_by_hour(&env, &ids);

    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    let after = read_by_hour(&env, &ids);
    let key = id.to_string();
    let details = &table_entry(&doc, &id)["details"];
    assert_eq!(details["sort"]["source"], "table", "{details}");
    let columns = plan_columns(details);
    let expected =
        [("service_name".to_string(), true, false), ("timestamp".to_string(), false, true)];
    assert_eq!(columns, expected, "{details}");
    assert_same_rows(&key, &before[&key], &after[&key]);
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let order = table.metadata().default_sort_order();
    assert_eq!((order.order_id, order.fields.len()), (1, 2), "the table keeps its order");
    assert_eq!(order.fields[0].direction, SortDirection::Descending);
    assert_eq!(table.metadata().sort_orders_iter().len(), 1, "no order added");
    assert_sorted_hours(&key, &table, &after[&key], &columns, Some(1)).await;
}

/// With a memory budget far below a partition's rows, each group's sort spills sorted runs to
/// the spill directory and merges them: the output is sorted all the same, with the same rows,
/// and the spill directory is left empty.
#[tokio::test]
async fn a_sort_forced_to_spill_sorts_the_same() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    let spill = env.dir().join("spill");
    env.append_config(CONFIG);
    env.append_config(&format!(
        "[compactor.sort]\nmemory_budget_bytes = 65536\nspill_dir = \"{}\"\n",
        spill.display()
    ));
    let load = Load { signals: &[TableKind::Traces, TableKind::Logs], ..LOAD };
    let ids = load.run(&env);
    let (doc, before, after) = compact_reading_before_and_after(&env, &ids);
    let catalog = env.catalog().await;
    for id in &ids {
        let key = id.to_string();
        let details = &table_entry(&doc, id)["details"];
        let groups = details["execution"]["groups"].as_array().unwrap();
        assert!(!groups.is_empty(), "{details}");
        for g in groups {
            assert_eq!(g["status"], "committed", "{key}: {g}");
            assert!(g["spilled_runs"].as_u64().unwrap() >= 2, "{key}: {g}");
        }
        assert_same_rows(&key, &before[&key], &after[&key]);
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        let columns = plan_columns(details);
        assert_sorted_hours(&key, &table, &after[&key], &columns, Some(1)).await;
    }
    let left: Vec<_> = std::fs::read_dir(&spill).unwrap().collect();
    assert!(left.is_empty(), "spill files left: {left:?}");
}
