//! Apache Spark with Iceberg's Java runtime, the reference implementation, reads every table
//! the compactor has maintained exactly as pyiceberg does (same rows per hour, same content
//! digest) after each kind of operation: sorted compaction, partition drop and snapshot
//! expiration, orphan cleanup; on both table layouts, with the catalog in
//! SQLite and in PostgreSQL (a local warehouse: Spark has no S3 FileIO here). On SQLite the
//! files are written with `tuned_encodings` (each column's dictionary and zstd level), on
//! PostgreSQL with Parquet's defaults: Spark's vectorized reader must read both.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use common::TableKind;
use common::partition::hour_of_micros;
use serde_json::Value;
use tests_integration::duckdb_read::duckdb_scans_hashed;
use tests_integration::orphans::backdate_tree;
use tests_integration::pyiceberg::run_pyiceberg;
use tests_integration::signaldb_layout::{signaldb_table_idents, write_signaldb_warehouse};
use tests_integration::spark_read::{read_with_spark, spark_sql_then_read};
use tests_integration::{Backend, TestEnv, require_spark};

use super::{Load, compactor, json_ok};

/// Compaction of 3 or more small files, retention and orphan cleanup on (grace 1 hour).
const CONFIG: &str = "[compactor]\nmin_input_files = 3\n\
                      [compactor.retention]\nenabled = true\n\
                      [compactor.orphan_cleanup]\nenabled = true\ngrace_period_hours = 1";

/// The classic layout's traces and logs: 3 hours of 6 small files, long past retention.
const CLASSIC: Load = Load {
    signals: &[TableKind::Traces, TableKind::Logs],
    hours: 3,
    files_per_hour: 6,
    rows_per_file: 100,
};

#[tokio::test]
async fn spark_reads_what_every_operation_leaves_on_sqlite_local() {
    spark_reads_what_every_operation_leaves(Backend::SqliteLocal, true).await;
}

#[tokio::test]
async fn spark_reads_what_every_operation_leaves_on_postgres() {
    spark_reads_what_every_operation_leaves(Backend::Postgres, false).await;
}

/// Per table, what pyiceberg and Spark read now agree on: the rows of each hour and the content
/// digest; returns pyiceberg's digests.
#[track_caller]
fn assert_spark_reads_as_pyiceberg(
    env: &TestEnv,
    jars: &str,
    idents: &[String],
    after: &str,
) -> BTreeMap<String, Value> {
    let py = run_pyiceberg(env, idents);
    let spark = read_with_spark(env, jars, idents);
    let locations: Vec<(&str, Option<i64>)> = idents
        .iter()
        .map(|i| (py["tables"][i]["metadata_location"].as_str().unwrap(), None))
        .collect();
    let duck = duckdb_scans_hashed(env, &locations);
    let mut digests = BTreeMap::new();
    for (ident, duck) in idents.iter().zip(&duck) {
        let (p, s) = (&py["tables"][ident], &spark["tables"][ident]);
        assert_eq!(s["total_rows"], p["total_rows"], "{ident} after {after}: {s}");
        assert_eq!(s["rows_per_hour"], p["rows_per_hour"], "{ident} after {after}");
        assert_eq!(s["rows_sha256"], p["rows_sha256"], "{ident} after {after}: the content");
        let duck_digest = duck.rows_sha256.as_deref();
        assert_eq!(duck_digest, p["rows_sha256"].as_str(), "{ident} after {after}: DuckDB");
        digests.insert(ident.clone(), p["rows_sha256"].clone());
    }
    digests
}

async fn spark_reads_what_every_operation_leaves(backend: Backend, tuned_encodings: bool) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(jars) = require_spark() else { return };
    env.append_config(CONFIG);
    env.append_config(&format!("[compactor.output]\ntuned_encodings = {tuned_encodings}"));
    let mut idents: Vec<String> = CLASSIC.run(&env).iter().map(ToString::to_string).collect();
    // SignalDB's eight tables, two hours ten days old: past the retention of traces, logs and
    // profiles (7, 3 and 7 days), within metrics' (30).
    let last = hour_of_micros(Utc::now().timestamp_micros()) - 10 * 24;
    write_signaldb_warehouse(&env, &["acme"], &["sdb"], last - 1..=last, 6, 30, 11);
    idents.extend(signaldb_table_idents(&["acme"], &["sdb"]));
    let loaded = assert_spark_reads_as_pyiceberg(&env, &jars, &idents, "loading");

    // Sorted compaction, one replace snapshot per table that leaves two manifests where the
    // appends left one each.
    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    for t in doc["reports"][0]["tables"].as_array().unwrap() {
        let m = &t["details"]["manifests"];
        assert!(m["after"].as_u64() < m["before"].as_u64(), "{t}");
    }
    let compacted = assert_spark_reads_as_pyiceberg(&env, &jars, &idents, "compaction");
    assert_eq!(compacted, loaded, "compaction changes no row");

    // Partition drops and snapshot expiration.
    json_ok(&compactor(&env, &["retention", "--json"]));
    let retained = assert_spark_reads_as_pyiceberg(&env, &jars, &idents, "retention");
    let empty = Value::from("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    for ident in &idents {
        let kept = ident.contains(".metrics_");
        let expected = if kept { &loaded[ident] } else { &empty };
        assert_eq!(&retained[ident], expected, "{ident}: dropped past its signal's retention");
    }

    // Orphan cleanup of everything no kept snapshot reaches.
    backdate_tree(env.warehouse_uri(), Duration::from_secs(3 * 86_400));
    let doc = json_ok(&compactor(&env, &["orphans", "--json"]));
    let deleted: u64 = doc["reports"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["details"]["files_deleted"].as_u64().unwrap_or(0))
        .sum();
    assert!(deleted > 0, "the compacted inputs and dropped files are orphans now: {doc}");
    let cleaned = assert_spark_reads_as_pyiceberg(&env, &jars, &idents, "orphan cleanup");
    assert_eq!(cleaned, retained);
}

/// The classic `logs` table, written by the load generator, then changed by Spark as an
/// operator would: a column added, one renamed, one widened (int -> long), rows inserted into
/// the same hours, the partition spec moved from hours to days, rows inserted again and a
/// column dropped. One
/// compaction pass rewrites every hour's files, of three schemas and two specs, into the day in
/// the current schema and spec, and Spark, pyiceberg and DuckDB all read the rows they read
/// before.
#[tokio::test]
async fn what_spark_changed_is_compacted_into_the_current_schema_and_spec() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(jars) = require_spark() else { return };
    env.append_config(CONFIG);
    let logs = Load { signals: &[TableKind::Logs], ..CLASSIC };
    let idents: Vec<String> = logs.run(&env).iter().map(ToString::to_string).collect();
    let t = format!("{}.{}", env.pyiceberg().catalog_name, idents[0]);
    let columns = "severity_text, message, service_name, trace_id, span_id, attributes, \
                   resource_attributes";
    let statements = [
        format!("ALTER TABLE {t} ADD COLUMN tier string"),
        format!("ALTER TABLE {t} RENAME COLUMN body TO message"),
        format!("ALTER TABLE {t} ALTER COLUMN severity_number TYPE bigint"),
        format!(
            "INSERT INTO {t} SELECT timestamp + INTERVAL 1 SECOND, severity_number, {columns}, \
             'gold' FROM {t}"
        ),
        format!(
            "ALTER TABLE {t} REPLACE PARTITION FIELD hour WITH days(timestamp) AS timestamp_day"
        ),
        format!(
            "INSERT INTO {t} SELECT timestamp + INTERVAL 2 SECONDS, severity_number, {columns}, \
             'silver' FROM {t} WHERE tier IS NULL"
        ),
        format!("ALTER TABLE {t} DROP COLUMN span_id"),
    ];
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    let spark = spark_sql_then_read(&env, &jars, &statements, &idents);
    let before = &spark["tables"][&idents[0]];
    assert_eq!(before["total_rows"], 3 * logs.rows_per_table(), "{before}");
    let py = run_pyiceberg(&env, &idents);
    assert_eq!(py["tables"][&idents[0]]["rows_sha256"], before["rows_sha256"], "before");

    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    let details = &doc["reports"][0]["tables"][0]["details"];
    let candidates = details["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "one day: {details}");
    assert_eq!(candidates[0]["hour_label"], "2026-01-15", "{details}");
    assert!(candidates[0]["other_spec_files"].as_u64().unwrap() >= 18, "{details}");
    assert_eq!(details["execution"]["groups_committed"], 1, "{details}");

    let after = read_with_spark(&env, &jars, &idents);
    let py = run_pyiceberg(&env, &idents);
    let (s, p) = (&after["tables"][&idents[0]], &py["tables"][&idents[0]]);
    assert_eq!(s["rows_sha256"], before["rows_sha256"], "Spark reads the same rows");
    assert_eq!(p["rows_sha256"], before["rows_sha256"], "pyiceberg reads the same rows");
    assert_eq!(p["rows_per_hour"], before["rows_per_hour"]);
    assert_eq!(p["live_data_files"], 1, "one file for the day: {p}");
    let file = p["data_files"][0].as_str().unwrap();
    assert!(file.contains("/data/timestamp_day=2026-01-15/"), "{file}");
    let duck = duckdb_scans_hashed(&env, &[(p["metadata_location"].as_str().unwrap(), None)]);
    assert_eq!(
        duck[0].rows_sha256.as_ref(),
        before["rows_sha256"].as_str().map(String::from).as_ref()
    );
}
