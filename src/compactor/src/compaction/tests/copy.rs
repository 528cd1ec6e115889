//! The row-group copy on a real catalog and warehouse: the exact rows, chunks copied as they
//! are, Iceberg metrics equal to those of a decode/encode rewrite of the same inputs, and the
//! fallback to a rewrite when an input does not qualify.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use common::TableKind;
use common::catalog::ensure_table;
use common::partition::MICROS_PER_HOUR;
use common::partition::TimePartition;
use common::tables::TableId;
use iceberg::spec::DataFile;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};

use super::fixture::{BASE_HOUR, Fixture, write};
use crate::compaction::copy::{CopyError, copy_tasks, write_group};
use crate::compaction::plan::{FileGroup, Method};
use crate::compaction::rewrite::rewrite_tasks;
use crate::compaction::scan::{scan_tasks, take_group_tasks};
use crate::compaction::{RewriteOutput, RewriteSettings, rewrite_group};
use crate::live_files::ManifestCache;

const MIB: u64 = 1024 * 1024;

/// `n` metrics rows: every 7th value NaN, every 5th unit null, names from a small set.
fn metrics_batch(table: &Table, n: usize, seed: usize) -> RecordBatch {
    let schema = iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema()).unwrap();
    let hour = BASE_HOUR * MICROS_PER_HOUR;
    let ts = (0..n).map(|i| hour + ((seed * 7919 + i * 104_729) as i64 % MICROS_PER_HOUR));
    let text = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values((0..n).map(f)))
    };
    let value = (0..n).map(|i| if i % 7 == 3 { f64::NAN } else { (seed * n + i) as f64 / 3.0 });
    let unit = (0..n).map(|i| (i % 5 != 0).then(|| format!("u{}", i % 3)));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(ts)
                .with_data_type(schema.field(0).data_type().clone()),
        ),
        text(&|i| format!("metric-{:02}", (i * 31 + seed) % 40)),
        text(&|i| ["gauge", "sum"][i % 2].to_string()),
        Arc::new(Float64Array::from_iter_values(value)),
        Arc::new(StringArray::from_iter(unit)),
        text(&|i| format!("svc-{}", (i + seed) % 6)),
        text(&|i| format!("{{\"k\":{i}}}")),
        Arc::new(StringArray::from(vec![None::<&str>; n])),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

async fn append(fx: &Fixture, id: &TableId, files: Vec<DataFile>) -> Table {
    let table = fx.catalog.load_table(&id.ident()).await.unwrap();
    let tx = Transaction::new(&table);
    let tx = tx.fast_append().add_data_files(files).apply(tx).unwrap();
    tx.commit(fx.catalog.catalog()).await.unwrap()
}

fn group(files: &[DataFile]) -> FileGroup {
    FileGroup {
        files: files.iter().map(|f| f.file_path().to_string()).collect(),
        bytes: files.iter().map(DataFile::file_size_in_bytes).sum(),
        rows: files.iter().map(DataFile::record_count).sum(),
        expected_output_files: 1,
        expected_bytes: files.iter().map(DataFile::file_size_in_bytes).sum(),
        delete_files: Vec::new(),
        min_rows: 0,
    }
}

async fn footer(table: &Table, path: &str) -> (bytes::Bytes, ParquetMetaData) {
    let bytes = table.file_io().new_input(path).unwrap().read().await.unwrap();
    let reader = ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Optional);
    let md = reader.parse_and_finish(&bytes).unwrap();
    (bytes, md)
}

/// Every row of the files, each as text, sorted.
async fn rows(table: &Table, files: &[DataFile]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        let (bytes, _) = footer(table, f.file_path()).await;
        for batch in ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap() {
            let b = batch.unwrap();
            for i in 0..b.num_rows() {
                let row: Vec<String> =
                    b.columns().iter().map(|c| format!("{:?}", c.slice(i, 1))).collect();
                out.push(row.join("|"));
            }
        }
    }
    out.sort();
    out
}

/// A metrics table holding four raw files of `rows` rows and, appended after them, each
/// rewritten alone into a compacted file of 1,000-row row groups; returns the table and the
/// compacted files.
async fn tier_one(fx: &Fixture, settings: &RewriteSettings, rows: usize) -> (Table, Vec<DataFile>) {
    let id = TableId::new("acme", "prod", TableKind::Metrics).unwrap();
    let table = ensure_table(&fx.catalog, &id).await.unwrap();
    let mut raw = Vec::new();
    for seed in 0..4 {
        raw.extend(write(&table, BASE_HOUR, vec![metrics_batch(&table, rows, seed)]).await);
    }
    let table = append(fx, &id, raw.clone()).await;
    let mut compacted = Vec::new();
    for f in &raw {
        let g = group(std::slice::from_ref(f));
        compacted.extend(
            rewrite_group(&table, &g, TimePartition::hour(BASE_HOUR), settings, None)
                .await
                .unwrap()
                .files,
        );
    }
    (append(fx, &id, compacted.clone()).await, compacted)
}

#[tokio::test]
async fn copied_row_groups_keep_the_rows_and_get_the_metrics_a_rewrite_computes() {
    let fx = Fixture::new().await;
    let settings = RewriteSettings {
        row_group_rows: Some(1000),
        copy_min_row_group_bytes: Some(1),
        ..RewriteSettings::new(128 * MIB)
    };
    let (table, inputs) = tier_one(&fx, &settings, 3000).await;
    assert_eq!(inputs.len(), 4);
    let (copied, rewritten) = copy_and_rewrite(&table, &inputs, &settings).await;
    assert_eq!((copied.rows_read, copied.rows_written), (12_000, 12_000));

    // Byte for byte: the inputs' row groups, in order, with the same chunk sizes.
    let (c, r) = (&copied.files[0], &rewritten.files[0]);
    let (_, out) = footer(&table, c.file_path()).await;
    let mut chunks_in = Vec::new();
    for f in &inputs {
        let (_, md) = footer(&table, f.file_path()).await;
        for rg in md.row_groups() {
            chunks_in.push(rg.columns().iter().map(|c| c.compressed_size()).collect::<Vec<_>>());
        }
    }
    let chunks_out: Vec<Vec<i64>> = out
        .row_groups()
        .iter()
        .map(|rg| rg.columns().iter().map(|c| c.compressed_size()).collect())
        .collect();
    assert_eq!(chunks_out, chunks_in);
    assert!(out.column_index().is_some() && out.offset_index().is_some(), "page indexes kept");
    assert_eq!(c.file_size_in_bytes(), footer(&table, c.file_path()).await.0.len() as u64);

    assert_same_metrics(c, r);
    let value_id = table.metadata().current_schema().field_id_by_name("value").unwrap();
    let expected_nans = 4 * (0..3000).filter(|i| i % 7 == 3).count() as u64;
    assert_eq!(c.nan_value_counts().get(&value_id), Some(&expected_nans));
    let unit_id = table.metadata().current_schema().field_id_by_name("unit").unwrap();
    assert_eq!(c.null_value_counts().get(&unit_id), Some(&(4 * 600)));
    assert_eq!(c.split_offsets().map(<[i64]>::len), Some(12), "one split per row group");
}

/// Copies and rewrites `inputs` (live files of `table`) each into one file, checking that
/// both hold the inputs' exact rows.
async fn copy_and_rewrite(
    table: &Table,
    inputs: &[DataFile],
    settings: &RewriteSettings,
) -> (RewriteOutput, RewriteOutput) {
    let g = group(inputs);
    let mut tasks =
        scan_tasks(table, g.files.iter().map(String::as_str), &ManifestCache::new()).await.unwrap();
    let tasks = take_group_tasks(&mut tasks, &g).unwrap();
    let copied = copy_tasks(table, &tasks, g.rows, 1, TimePartition::hour(BASE_HOUR), settings)
        .await
        .unwrap();
    let rewritten =
        rewrite_tasks(table, tasks, g.rows, 1, TimePartition::hour(BASE_HOUR), settings, None)
            .await
            .unwrap();
    assert_eq!((copied.method, rewritten.method), (Method::Copy, Method::Rewrite));
    assert_eq!((copied.files.len(), rewritten.files.len()), (1, 1));
    let before = rows(table, inputs).await;
    assert_eq!(rows(table, &copied.files).await, before, "the exact rows");
    assert_eq!(rows(table, &rewritten.files).await, before, "the exact rows");
    (copied, rewritten)
}

/// The metrics are those a decode/encode rewrite of the same rows computes.
fn assert_same_metrics(c: &DataFile, r: &DataFile) {
    assert_eq!(c.record_count(), r.record_count());
    assert_eq!(c.value_counts(), r.value_counts());
    assert_eq!(c.null_value_counts(), r.null_value_counts());
    assert_eq!(c.nan_value_counts(), r.nan_value_counts());
    assert_eq!(c.lower_bounds(), r.lower_bounds());
    assert_eq!(c.upper_bounds(), r.upper_bounds());
    assert_eq!(c.partition(), r.partition());
    assert!(!c.lower_bounds().is_empty() && !c.nan_value_counts().is_empty());
}

#[tokio::test]
async fn small_row_groups_are_reencoded_together_and_large_ones_copied() {
    let fx = Fixture::new().await;
    let settings = RewriteSettings {
        row_group_rows: Some(1000),
        copy_min_row_group_bytes: Some(1),
        ..RewriteSettings::new(128 * MIB)
    };
    // Row groups of 1,000, 1,000 and 500 rows; the 500-row ones are below the minimum.
    let (table, inputs) = tier_one(&fx, &settings, 2500).await;
    // The minimum is the smallest 1,000-row group of any input (their sizes differ a little).
    let mut min = u64::MAX;
    for input in &inputs {
        let (_, md) = footer(&table, input.file_path()).await;
        let rows: Vec<i64> = md.row_groups().iter().map(|rg| rg.num_rows()).collect();
        assert_eq!(rows, [1000, 1000, 500]);
        let sizes = md.row_groups()[..2].iter().map(|rg| rg.compressed_size() as u64);
        min = min.min(sizes.min().unwrap());
    }
    let settings = RewriteSettings { copy_min_row_group_bytes: Some(min), ..settings };

    let (copied, rewritten) = copy_and_rewrite(&table, &inputs, &settings).await;
    assert_same_metrics(&copied.files[0], &rewritten.files[0]);
    let (_, out) = footer(&table, copied.files[0].file_path()).await;
    let rows: Vec<i64> = out.row_groups().iter().map(|rg| rg.num_rows()).collect();
    // The eight large row groups copied, the four 500-row remnants re-encoded together into
    // row groups of at least the minimum (one or two of them, as they compress).
    assert_eq!(rows.iter().sum::<i64>(), 10_000);
    assert!(rows.iter().filter(|&&n| n == 1000).count() >= 8, "{rows:?}");
    assert!((9..=10).contains(&rows.len()), "{rows:?}");
    assert!(rows.iter().all(|&n| n >= 1000), "no small row group left: {rows:?}");
}

#[tokio::test]
async fn a_group_that_does_not_qualify_is_rewritten_and_says_why() {
    let fx = Fixture::new().await;
    let settings = RewriteSettings {
        row_group_rows: Some(1000),
        copy_min_row_group_bytes: Some(1),
        ..RewriteSettings::new(128 * MIB)
    };
    let (table, compacted) = tier_one(&fx, &settings, 3000).await;

    // Row groups below the minimum.
    let g = group(&compacted);
    let mut tasks = scan_tasks(&table, g.files.iter().map(String::as_str), &ManifestCache::new())
        .await
        .unwrap();
    let tasks = take_group_tasks(&mut tasks, &g).unwrap();
    let strict = RewriteSettings { copy_min_row_group_bytes: Some(64 * MIB), ..settings.clone() };
    let err = copy_tasks(&table, &tasks, g.rows, 1, TimePartition::hour(BASE_HOUR), &strict)
        .await
        .unwrap_err();
    let CopyError::Ineligible(reason) = err else { panic!("{err:?}") };
    assert!(reason.starts_with("only 0 of the inputs'"), "{reason}");
    assert!(reason.ends_with("copy_min_row_group_bytes (67108864)"), "{reason}");

    let out = write_group(
        &table,
        tasks,
        g.rows.into(),
        1.into(),
        TimePartition::hour(BASE_HOUR),
        &strict,
        Method::Copy,
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.method, Method::Rewrite);
    assert!(out.copy_fallback.as_deref().is_some_and(|r| r.starts_with("only 0")), "{out:?}");
    assert_eq!(out.rows_written, 12_000);

    // The raw files the fixture writes are uncompressed: another codec than the output's.
    let live = super::fixture::live(&table).await;
    let raw: Vec<&str> = live
        .iter()
        .map(|e| e.path.as_str())
        .filter(|p| !compacted.iter().any(|c| c.file_path() == *p))
        .collect();
    assert_eq!(raw.len(), 4);
    let mut tasks = scan_tasks(&table, raw.iter().copied(), &ManifestCache::new()).await.unwrap();
    let tasks: Vec<_> = raw.iter().map(|p| tasks.remove(*p).unwrap()).collect();
    let err = copy_tasks(&table, &tasks, 12_000, 1, TimePartition::hour(BASE_HOUR), &settings)
        .await
        .unwrap_err();
    let CopyError::Ineligible(reason) = err else { panic!("{err:?}") };
    assert!(reason.contains("compressed with UNCOMPRESSED, not ZSTD"), "{reason}");
    assert!(reason.starts_with(raw[0]), "names the file: {reason}");
}
