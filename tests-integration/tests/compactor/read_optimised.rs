//! Output made for reads, end to end: a first pass writes sorted files whose `trace_id`
//! column has a bloom filter and a page index; a second pass with a larger target merges them
//! by copying their row groups (the plan and the result say `copy`), and every hour still
//! holds exactly its rows for pyiceberg and DuckDB, on SQLite + filesystem and PostgreSQL + S3.

use std::collections::BTreeSet;

use arrow_array::{Array, StringArray};
use common::TableKind;
use iceberg::table::Table;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use serde_json::Value;
use tests_integration::duckdb_read::duckdb_scans;
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::spark_read::assert_spark_reads;
use tests_integration::{Backend, BinCommand, TestEnv, require_python};

use super::{COMPACTOR, Load, compactor, json_ok, table_entry};

/// First pass: 4 MiB files of sorted rows (row groups of about 2 MiB once compressed, and a
/// smaller last one); row groups of 1 MiB and more are copied.
const CONFIG: &str = "[compactor]\nmin_input_files = 2\ntarget_file_size_bytes = 4194304\n\
                      small_file_threshold_bytes = 2097152\n\
                      [compactor.output]\ncopy_min_row_group_bytes = 1048576\n";

/// One quiet hour of 24 traces files of 20,000 rows (about 19 MB).
const LOAD: Load =
    Load { signals: &[TableKind::Traces], hours: 1, files_per_hour: 24, rows_per_file: 20_000 };

#[tokio::test]
async fn a_second_tier_copies_row_groups_of_sorted_files_on_sqlite_local() {
    a_second_tier_copies_row_groups_of_sorted_files(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn a_second_tier_copies_row_groups_of_sorted_files_on_postgres_s3() {
    a_second_tier_copies_row_groups_of_sorted_files(Backend::PostgresS3).await;
}

/// The methods a `--json` compaction entry planned and executed.
fn methods(details: &Value) -> (Vec<String>, Vec<String>) {
    let strings = |v: &Value, key: &str| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("{details}"))
            .iter()
            .map(|x| x[key].as_str().unwrap_or_else(|| panic!("{x}")).to_string())
            .collect()
    };
    (strings(&details["candidates"], "method"), strings(&details["execution"]["groups"], "method"))
}

async fn footer(table: &Table, path: &str) -> (bytes::Bytes, ParquetMetaData) {
    let bytes = table.file_io().new_input(path).unwrap().read().await.unwrap();
    let reader = ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Required);
    let md = reader.parse_and_finish(&bytes).unwrap();
    (bytes, md)
}

/// Every row group of the file at `path` has a page index and a `trace_id` bloom filter that
/// holds the row group's first and last trace ids and refuses most ids it does not hold.
async fn assert_read_aids(table: &Table, path: &str) {
    let (bytes, md) = footer(table, path).await;
    let column =
        md.file_metadata().schema_descr().columns().iter().position(|c| c.name() == "trace_id");
    let column = column.expect("a trace_id column");
    assert!(md.column_index().is_some() && md.offset_index().is_some(), "{path}: page index");
    let only_ids = ProjectionMask::leaves(md.file_metadata().schema_descr(), [column]);
    let rows = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).unwrap();
    let rows = rows.with_projection(only_ids).build().unwrap();
    let mut ids = Vec::new();
    for batch in rows {
        let batch = batch.unwrap();
        let col = batch.column(batch.schema().index_of("trace_id").unwrap()).clone();
        let col = col.as_any().downcast_ref::<StringArray>().unwrap().clone();
        ids.extend((0..col.len()).map(|i| col.value(i).to_string()));
    }
    let mut first = 0;
    for rg in md.row_groups() {
        let chunk = rg.column(column);
        let filter = Sbbf::read_from_column_chunk(chunk, &bytes).unwrap();
        let filter = filter.unwrap_or_else(|| panic!("{path}: no trace_id bloom filter"));
        let held = &ids[first..first + rg.num_rows() as usize];
        first += rg.num_rows() as usize;
        let distinct: BTreeSet<&String> = held.iter().collect();
        assert!(distinct.iter().all(|id| filter.check(id.as_str())), "{path}: a held id refused");
        let absent = (0..200).filter(|i| filter.check(format!("absent-{i}").as_str())).count();
        assert!(absent < 20, "{path}: {absent} of 200 absent ids pass the filter");
    }
}

async fn a_second_tier_copies_row_groups_of_sorted_files(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(CONFIG);
    let ids = LOAD.run(&env);
    let (id, key) = (&ids[0], ids[0].to_string());
    let before = read_by_hour(&env, &ids);

    let first = json_ok(&compactor(&env, &["compact", "--json"]));
    let (planned, done) = methods(&table_entry(&first, id)["details"]);
    assert_eq!((planned, done), (vec!["sort".to_string()], vec!["sort".to_string()]));
    let tier_one = read_by_hour(&env, &ids);
    let catalog = env.catalog().await;
    let table = catalog.load_table(&id.ident()).await.unwrap();
    let files: Vec<String> = tier_one[&key].files.values().flatten().cloned().collect();
    assert!(files.len() >= 4, "{files:?}");
    for path in &files {
        assert_read_aids(&table, path).await;
    }

    // A larger target: the sorted 4 MiB files are small again, and made of large row groups.
    let second = BinCommand::new(COMPACTOR)
        .args(["compact", "--json"])
        .test_env(&env)
        .env("SIGNALDB_COMPACTOR_TARGET_FILE_SIZE_BYTES", "33554432")
        .env("SIGNALDB_COMPACTOR_SMALL_FILE_THRESHOLD_BYTES", "16777216")
        .run();
    let second = json_ok(&second);
    let details = &table_entry(&second, id)["details"];
    let (planned, done) = methods(details);
    assert_eq!((planned, done), (vec!["copy".to_string()], vec!["copy".to_string()]), "{details}");
    let group = &details["execution"]["groups"][0];
    assert_eq!(group["copy_fallback"], Value::Null, "{group}");
    assert_eq!(group["files_in"], files.len(), "{group}");
    assert_eq!(group["files_out"], 1, "{group}");

    let after = read_by_hour(&env, &ids);
    for (what, state) in [("first pass", &tier_one[&key]), ("second pass", &after[&key])] {
        assert_eq!(state.read["rows_sha256"], before[&key].read["rows_sha256"], "{what}");
        assert_eq!(state.content, before[&key].content, "{what}: rows of each hour");
    }
    let copied: Vec<String> = after[&key].files.values().flatten().cloned().collect();
    assert_eq!(copied.len(), 1, "{copied:?}");
    assert_read_aids(&table, &copied[0]).await;
    let duck = duckdb_scans(&env, &[(after[&key].metadata_location(), None)]);
    assert_eq!(duck[0].rows_read(), LOAD.rows_per_table(), "DuckDB reads every row");
    assert_spark_reads(&env, &key, &after[&key].read["rows_sha256"], "the row-group copy");
}
