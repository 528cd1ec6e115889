//! Sorted rewrites on a real catalog and warehouse: rows in order across the output files, the
//! exact rows kept, the table's order recorded, spilling, and the plan saying how it sorts.

use std::sync::Arc;

use arrow_array::{Array, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use common::TableKind;
use common::clock::SystemClock;
use common::partition::TimePartition;
use common::tables::{TableId, creation};
use iceberg::Catalog;
use iceberg::table::Table;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio_util::sync::CancellationToken;

use super::fixture::{BASE_HOUR, Fixture, live};
use crate::compaction::plan::FileGroup;
use crate::compaction::{
    CompactionStep, OrderSource, RewriteSettings, SortPolicy, SortSettings, rewrite_group,
};
use crate::job::Scope;
use crate::step::{StepError, TableContext};

/// A logs row's sort key (service, severity, timestamp) and the whole row as text.
type Keyed = ((String, i32, i64), String);

/// The rows of the data file at `path`, in file order.
async fn file_rows(table: &Table, path: &str) -> Vec<Keyed> {
    let bytes = table.file_io().new_input(path).unwrap().read().await.unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let b: RecordBatch = batch.unwrap();
        let col = |name: &str| b.column(b.schema().index_of(name).unwrap()).clone();
        let ts = col("timestamp");
        let ts = ts.as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        let sev = col("severity_number");
        let sev = sev.as_any().downcast_ref::<Int32Array>().unwrap();
        let svc = col("service_name");
        let svc = svc.as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..b.num_rows() {
            let row: Vec<String> =
                b.columns().iter().map(|c| format!("{:?}", c.slice(i, 1))).collect();
            out.push(((svc.value(i).to_string(), sev.value(i), ts.value(i)), row.join("|")));
        }
    }
    out
}

fn group_of_hour(files: &[super::fixture::Entry]) -> FileGroup {
    FileGroup {
        files: files.iter().map(|e| e.path.clone()).collect(),
        bytes: files.iter().map(|e| e.size).sum(),
        rows: files.iter().map(|e| e.records).sum(),
        expected_output_files: 1,
        expected_bytes: files.iter().map(|e| e.size).sum(),
        delete_files: Vec::new(),
        min_rows: 0,
    }
}

#[tokio::test]
async fn a_sorted_rewrite_orders_rows_across_its_files_and_records_the_table_order() {
    let fx = Fixture::new().await;
    fx.fill(&[BASE_HOUR], 6, 2000).await;
    let table = fx.load().await;
    let files = live(&table).await;
    let group = group_of_hour(&files);
    let mut before = Vec::new();
    for f in &files {
        before.extend(file_rows(&table, &f.path).await.into_iter().map(|(_, row)| row));
    }

    let policy = SortPolicy::from(&common::config::SortConfig::default());
    let order = policy.resolve(&fx.id, &table).unwrap().expect("logs tables are sorted");
    assert_eq!(order.source, OrderSource::Table, "the table's own order wins");
    assert_eq!(order.describe(), "service_name, severity_number, timestamp");
    let spill = tempfile::tempdir().unwrap();
    let settings = RewriteSettings {
        batch_rows: 1024,
        sort: SortSettings { memory_budget_bytes: 64 * 1024, spill_dir: spill.path().into() },
        ..RewriteSettings::new(64 * 1024)
    };
    let out =
        rewrite_group(&table, &group, TimePartition::hour(BASE_HOUR), &settings, Some(&order))
            .await
            .unwrap();
    assert!(out.spilled_runs >= 2, "{} runs spilled", out.spilled_runs);
    assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0, "spill files removed");
    assert!(out.files.len() >= 3, "{} files", out.files.len());

    let mut after = Vec::new();
    let mut last_key = None;
    for f in &out.files {
        assert_eq!(f.sort_order_id(), Some(1), "{}", f.file_path());
        let rows = file_rows(&table, f.file_path()).await;
        let keys: Vec<_> = rows.iter().map(|(k, _)| k.clone()).collect();
        assert!(keys.is_sorted(), "{} is not sorted", f.file_path());
        // Files follow each other: their key ranges do not overlap.
        if let (Some(last), Some(first)) = (&last_key, keys.first()) {
            assert!(last <= first, "{last:?} > {first:?}");
        }
        last_key = keys.last().cloned();
        after.extend(rows.into_iter().map(|(_, row)| row));
    }
    before.sort();
    after.sort();
    assert_eq!(before, after, "the exact rows");
}

#[tokio::test]
async fn the_plan_says_how_output_is_sorted_and_a_missing_column_fails_the_table() {
    let fx = Fixture::new().await;
    let table = fx.load().await;
    let (scope, cancel) = (Scope::default(), CancellationToken::new());
    let mut settings = super::execute::settings(128 * 1024 * 1024);
    let step = CompactionStep::new(settings.clone(), Arc::new(SystemClock));
    let cx = TableContext::new(&fx.id, &table, &fx.catalog, &scope, &cancel);
    let plan = step.plan(&cx).await.unwrap();
    let sort = plan.sort.expect("sorted");
    assert_eq!((sort.source, sort.sort_order_id), (OrderSource::Table, Some(1)));
    let json = serde_json::to_value(step.plan(&cx).await.unwrap()).unwrap();
    assert_eq!(json["sort"]["source"], "table", "{json}");
    assert_eq!(json["sort"]["columns"][0]["column"], "service_name", "{json}");

    // A table created without a sort order takes the configured columns, and fails when
    // it lacks one.
    let id = TableId::new("acme", "prod", TableKind::Traces).unwrap();
    let request = creation(&id, fx.catalog.warehouse_location());
    let mut request = request.unwrap();
    request.sort_order = None;
    let traces = fx.catalog.catalog().create_table(&id.namespace(), request).await.unwrap();
    let cx = TableContext::new(&id, &traces, &fx.catalog, &scope, &cancel);
    let sort = step.plan(&cx).await.unwrap().sort.expect("sorted by the configuration");
    assert_eq!((sort.source, sort.sort_order_id), (OrderSource::Config, None));
    assert_eq!(sort.describe(), "trace_id, timestamp");

    settings.sort.traces = vec!["trace_id".into(), "tenant".into()];
    let step = CompactionStep::new(settings.clone(), Arc::new(SystemClock));
    let err = step.plan(&cx).await.unwrap_err();
    assert!(matches!(err, StepError::Unfit(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "table acme.prod.traces has no column `tenant` to sort by (compactor.sort.traces)"
    );

    settings.sort = SortPolicy::unsorted();
    let step = CompactionStep::new(settings, Arc::new(SystemClock));
    let cx = TableContext::new(&fx.id, &table, &fx.catalog, &scope, &cancel);
    assert_eq!(step.plan(&cx).await.unwrap().sort, None, "sorting off: even the table order");
}
