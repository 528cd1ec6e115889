//! Tables other engines made, filled or maintain, as Iceberg's reference implementation (Spark
//! with Iceberg's Java runtime) and pyiceberg read them:
//!
//! - a v1 table Spark created is compacted and its partitions dropped as v1 (its format version
//!   stays 1); a v3 table is left alone by every job, with the reason in the plan and status;
//! - files imported without Iceberg field ids (pyiceberg's `add_files`, which sets the table's
//!   name mapping) are read by name and compacted with the table's own;
//! - Spark's own `rewrite_data_files`, `expire_snapshots` and `remove_orphan_files` between
//!   our passes, and a `rewrite_data_files` committed while our commit is held back: no row is
//!   lost or duplicated, and the lost race is a conflict, not a failure.

use std::time::Duration;

use common::TableKind;
use serde_json::Value;
use tests_integration::duckdb_read::duckdb_scans_hashed;
use tests_integration::orphans::backdate_tree;
use tests_integration::private_pg::PrivatePg;
use tests_integration::pyiceberg::{import_files_without_ids, run_pyiceberg};
use tests_integration::spark_read::{read_with_spark, spark_sql_then_read};
use tests_integration::{Backend, TestEnv, require_spark};

use super::{Load, compact_with_held_swap, compactor, executed, json_ok};

/// Compaction of 3 or more small files, retention and orphan cleanup on (grace 1 hour).
const CONFIG: &str = "[compactor]\nmin_input_files = 3\n\
                      [compactor.retention]\nenabled = true\n\
                      [compactor.orphan_cleanup]\nenabled = true\ngrace_period_hours = 1";

/// The `logs` table: 3 quiet hours of 6 small files of 100 rows.
const LOGS: Load =
    Load { signals: &[TableKind::Logs], hours: 3, files_per_hour: 6, rows_per_file: 100 };

/// The report entry of `tenant.dataset.logs` in a `--json` document.
#[track_caller]
fn entry<'a>(doc: &'a Value, dataset: &str) -> &'a Value {
    doc["reports"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["dataset"] == dataset && t["table"] == "logs")
        .unwrap_or_else(|| panic!("acme.{dataset}.logs not in {doc}"))
}

/// Spark's statements creating `acme.{dataset}.logs` as format `version`, hourly, and filling
/// three hours of 2026-01-15 with six inserts (six small files per hour).
fn spark_table(catalog: &str, dataset: &str, version: u8) -> Vec<String> {
    let t = format!("{catalog}.acme.{dataset}.logs");
    let mut out = vec![
        format!("CREATE NAMESPACE IF NOT EXISTS {catalog}.acme.{dataset}"),
        format!(
            "CREATE TABLE {t} (timestamp timestamp, service_name string, body string, \
             severity_number int) USING iceberg PARTITIONED BY (hours(timestamp)) \
             TBLPROPERTIES ('format-version' = '{version}')"
        ),
    ];
    for i in 0..6 {
        let rows: Vec<String> = (9..12)
            .flat_map(|h| {
                (0..10).map(move |r| {
                    format!(
                        "(TIMESTAMP '2026-01-15 {h:02}:{i:02}:{r:02}', 'svc-{r}', 'body {i} {r}', {r})"
                    )
                })
            })
            .collect();
        out.push(format!("INSERT INTO {t} VALUES {}", rows.join(", ")));
    }
    out
}

#[tokio::test]
async fn a_v1_table_is_maintained_as_v1_and_a_v3_table_is_left_alone() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(jars) = require_spark() else { return };
    env.append_config(CONFIG);
    let catalog = env.pyiceberg().catalog_name.clone();
    let (v1, v3) = ("acme.old.logs".to_string(), "acme.new.logs".to_string());
    let mut statements = spark_table(&catalog, "old", 1);
    statements.extend(spark_table(&catalog, "new", 3));
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    let idents = [v1.clone(), v3.clone()];
    let before = spark_sql_then_read(&env, &jars, &statements, &idents);
    for ident in &idents {
        assert_eq!(before["tables"][ident]["total_rows"], 180, "{before}");
    }

    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    let old = &entry(&doc, "old")["details"];
    assert_eq!(old["candidates"].as_array().unwrap().len(), 3, "{old}");
    assert!(executed(old).iter().all(|g| g.committed()), "{old}");
    let new = &entry(&doc, "new")["details"];
    let reason = new["not_maintainable"].as_str().unwrap_or_else(|| panic!("{new}"));
    assert!(reason.contains("Iceberg format v3 is not supported"), "{reason}");
    assert!(new["candidates"].as_array().unwrap().is_empty(), "{new}");

    let after = read_with_spark(&env, &jars, &idents);
    for ident in &idents {
        assert_eq!(after["tables"][ident]["rows_sha256"], before["tables"][ident]["rows_sha256"]);
    }
    assert_ne!(after["tables"][&v1]["snapshot_id"], before["tables"][&v1]["snapshot_id"]);
    assert_eq!(after["tables"][&v3]["snapshot_id"], before["tables"][&v3]["snapshot_id"]);
    let py = run_pyiceberg(&env, std::slice::from_ref(&v1));
    let p = &py["tables"][&v1];
    assert_eq!(p["format_version"], 1, "still v1: {p}");
    assert_eq!(p["live_data_files"], 3, "{p}");
    assert_eq!(p["rows_sha256"], before["tables"][&v1]["rows_sha256"]);

    let status = compactor(&env, &["status", "--json"]).json();
    let table = status["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["dataset"] == "new")
        .unwrap_or_else(|| panic!("{status}"));
    let warnings: Vec<&str> =
        table["warnings"].as_array().unwrap().iter().filter_map(|w| w["check"].as_str()).collect();
    assert!(warnings.contains(&"table_not_maintainable"), "{table}");

    // 2026-01-15 is long past the logs' retention: the v1 table's hours are dropped (a v1
    // `delete` snapshot), the v3 table's are not touched, and neither is a failure.
    json_ok(&compactor(&env, &["retention", "--json"]));
    let retained = read_with_spark(&env, &jars, &idents);
    assert_eq!(retained["tables"][&v1]["total_rows"], 0, "{retained}");
    assert_eq!(retained["tables"][&v3]["rows_sha256"], before["tables"][&v3]["rows_sha256"]);
    let py = run_pyiceberg(&env, std::slice::from_ref(&v1));
    assert_eq!(py["tables"][&v1]["format_version"], 1);
    assert_eq!(py["tables"][&v1]["total_rows"], 0);
}

#[tokio::test]
async fn files_imported_without_field_ids_are_read_by_name_and_compacted() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(jars) = require_spark() else { return };
    // Unsorted: the plain rewrite, which the other Spark tests do not take.
    env.append_config(&format!("{CONFIG}\n[compactor.sort]\nenabled = false\n"));
    let idents: Vec<String> = LOGS.run(&env).iter().map(ToString::to_string).collect();
    let ident = &idents[0];
    let hour = LOGS.hour_labels()[0].clone();
    let imported = import_files_without_ids(&env, ident, &hour, 3);
    assert_eq!(imported["rows"], 600, "{imported}");
    let before = read_with_spark(&env, &jars, &idents);
    let b = &before["tables"][ident];
    assert_eq!(b["total_rows"], LOGS.rows_per_table() + 600, "{b}");
    assert_eq!(b["rows_per_hour"][&hour], 1200, "{b}");
    let py = run_pyiceberg(&env, &idents);
    assert_eq!(py["tables"][ident]["rows_sha256"], b["rows_sha256"], "pyiceberg agrees");

    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    let details = &doc["reports"][0]["tables"][0]["details"];
    let first = &details["candidates"][0];
    assert_eq!(
        (first["hour_label"].as_str(), first["files_before"].as_u64()),
        (Some(hour.as_str()), Some(9))
    );
    assert!(executed(details).iter().all(|g| g.committed()), "{details}");

    let after = read_with_spark(&env, &jars, &idents);
    assert_eq!(after["tables"][ident]["rows_sha256"], b["rows_sha256"], "Spark");
    let py = run_pyiceberg(&env, &idents);
    let p = &py["tables"][ident];
    assert_eq!(p["rows_sha256"], b["rows_sha256"], "pyiceberg");
    assert_eq!(p["live_data_files"], 3, "{p}");
    let duck = duckdb_scans_hashed(&env, &[(p["metadata_location"].as_str().unwrap(), None)]);
    assert_eq!(duck[0].rows_sha256.as_deref(), b["rows_sha256"].as_str(), "DuckDB");
}

#[tokio::test]
async fn spark_maintenance_between_and_during_our_passes_loses_nothing() {
    let Some(jars) = require_spark() else { return };
    let Some(pg) = PrivatePg::start() else { return };
    let Some(env) = TestEnv::with_postgres_at(Backend::Postgres, &pg.url()).await else { return };
    env.append_config("[compactor]\nmin_input_files = 3\n");
    let idents: Vec<String> = LOGS.run(&env).iter().map(ToString::to_string).collect();
    let ident = &idents[0];
    let catalog = env.pyiceberg().catalog_name.clone();
    let t = format!("{catalog}.{ident}");
    let first = LOGS.hour_labels()[0].clone();
    let loaded = read_with_spark(&env, &jars, &idents);
    let digest = loaded["tables"][ident]["rows_sha256"].clone();

    // During: our compare-and-swap is held back while Spark rewrites every hour.
    let (proxy, pass) = compact_with_held_swap(&env, pg.port());
    let rewrite = format!(
        "CALL {catalog}.system.rewrite_data_files(table => '{ident}', \
         options => map('min-input-files', '2'))"
    );
    let spark = spark_sql_then_read(&env, &jars, &[&rewrite], &idents);
    assert_eq!(spark["tables"][ident]["rows_sha256"], digest, "Spark's rewrite");
    proxy.release();
    let out = pass.wait_timeout(Duration::from_secs(300));
    out.assert_success();
    let doc = out.json();
    assert_eq!(doc["failures"], 0, "a lost race is no failure: {doc}");
    let details = &doc["reports"][0]["tables"][0]["details"];
    let groups = executed(details);
    assert_eq!(groups.len(), 3, "{details}");
    for g in &groups {
        assert_eq!((g.status.as_str(), g.kind.as_str()), ("abandoned", "files_no_longer_live"));
    }
    let py = run_pyiceberg(&env, &idents);
    assert_eq!(py["tables"][ident]["rows_sha256"], digest, "nothing lost or doubled");
    assert_eq!(py["tables"][ident]["live_data_files"], 3, "Spark's files");

    // Between: Spark writes more small files into the first hour, expires every snapshot but
    // the last and removes orphans older than the data; our passes then compact, drop
    // nothing (retention is off) and clean the orphans Spark's expiry left.
    let insert = format!(
        "INSERT INTO {t} SELECT * FROM {t} WHERE date_format(timestamp, 'yyyy-MM-dd-HH') = '{first}'"
    );
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S");
    let statements = [
        insert.clone(),
        insert.clone(),
        insert,
        format!(
            "CALL {catalog}.system.expire_snapshots(table => '{ident}', \
             older_than => TIMESTAMP '{now}', retain_last => 1)"
        ),
        format!(
            "CALL {catalog}.system.remove_orphan_files(table => '{ident}', \
             older_than => TIMESTAMP '2026-01-01 00:00:00')"
        ),
    ];
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    let spark = spark_sql_then_read(&env, &jars, &statements, &idents);
    let grown = spark["tables"][ident].clone();
    // Each insert copies the first hour as it is then: 600, 1,200 and 2,400 rows.
    assert_eq!(grown["total_rows"], LOGS.rows_per_table() + 4200, "{grown}");
    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    let details = &doc["reports"][0]["tables"][0]["details"];
    assert_eq!(details["candidates"].as_array().unwrap().len(), 1, "{details}");
    assert!(executed(details).iter().all(|g| g.committed()), "{details}");
    env.append_config("[compactor.orphan_cleanup]\nenabled = true\ngrace_period_hours = 1\n");
    backdate_tree(env.warehouse_uri(), Duration::from_secs(3 * 86_400));
    json_ok(&compactor(&env, &["orphans", "--json"]));
    let after = read_with_spark(&env, &jars, &idents);
    assert_eq!(after["tables"][ident]["rows_sha256"], grown["rows_sha256"], "Spark");
    let py = run_pyiceberg(&env, &idents);
    assert_eq!(py["tables"][ident]["rows_sha256"], grown["rows_sha256"], "pyiceberg");
    assert_eq!(py["tables"][ident]["live_data_files"], 3, "{py}");
}
