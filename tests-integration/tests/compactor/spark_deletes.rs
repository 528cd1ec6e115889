//! Rows another engine deletes stay deleted. Spark (Iceberg's Java runtime) deletes rows of our
//! tables with `write.delete.mode = merge-on-read`, which writes position delete files instead
//! of rewriting data files:
//!
//! - a compaction pass then rewrites the partitions with the deletes applied and removes the
//!   delete files in the same snapshot: Spark, pyiceberg and DuckDB read exactly what Spark
//!   read before compaction, and no delete file is left;
//! - a `DELETE` committed while a pass is between its plan and its commit (the pass's
//!   compare-and-swap held back by a proxy in front of PostgreSQL until Spark has committed)
//!   is never undone: the groups it touches are given up, the others committed, and the next
//!   pass applies it.

use std::time::Duration;

use common::TableKind;
use serde_json::Value;
use tests_integration::duckdb_read::duckdb_scans_hashed;
use tests_integration::private_pg::PrivatePg;
use tests_integration::pyiceberg::run_pyiceberg;
use tests_integration::spark_read::{read_with_spark, spark_sql_then_read};
use tests_integration::{Backend, TestEnv, require_spark};

use super::{Load, compact_with_held_swap, compactor, executed, json_ok};

/// Compaction of 3 or more small files.
const CONFIG: &str = "[compactor]\nmin_input_files = 3\n";

/// The `logs` table: 3 quiet hours of 6 small files of 100 rows.
const LOGS: Load =
    Load { signals: &[TableKind::Logs], hours: 3, files_per_hour: 6, rows_per_file: 100 };

/// Spark's statements that delete about a third of the rows of `table` (every hour but
/// `spared`, when set) as position delete files.
fn spark_delete(table: &str, spared: Option<&str>) -> Vec<String> {
    let spare = spared
        .map(|h| format!(" AND date_format(timestamp, 'yyyy-MM-dd-HH') <> '{h}'"))
        .unwrap_or_default();
    vec![
        format!(
            "ALTER TABLE {table} SET TBLPROPERTIES ('write.delete.mode' = 'merge-on-read', \
             'write.update.mode' = 'merge-on-read')"
        ),
        format!("DELETE FROM {table} WHERE pmod(hash(trace_id), 3) = 0{spare}"),
    ]
}

/// The live delete files of the table `ident` as `compactor status --json` counts them.
#[track_caller]
fn delete_files(env: &TestEnv, ident: &str) -> (u64, Value) {
    let doc = compactor(env, &["status", "--json"]).json();
    let table = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            let parts = [&t["tenant"], &t["dataset"], &t["table"]].map(|v| v.as_str());
            ident.split('.').map(Some).eq(parts)
        })
        .unwrap_or_else(|| panic!("{ident} not in {doc}"))
        .clone();
    (table["state"]["delete_files"].as_u64().unwrap(), table)
}

#[tokio::test]
async fn rows_spark_deleted_stay_deleted_and_their_delete_files_go() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(jars) = require_spark() else { return };
    env.append_config(CONFIG);
    let idents: Vec<String> = LOGS.run(&env).iter().map(ToString::to_string).collect();
    let ident = &idents[0];
    let t = format!("{}.{ident}", env.pyiceberg().catalog_name);
    let statements = spark_delete(&t, None);
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    let spark = spark_sql_then_read(&env, &jars, &statements, &idents);
    let before = spark["tables"][ident].clone();
    let rows = before["total_rows"].as_u64().unwrap();
    assert!(rows > 0 && rows < LOGS.rows_per_table(), "a share of the rows deleted: {before}");
    let py = run_pyiceberg(&env, &idents);
    assert_eq!(py["tables"][ident]["rows_sha256"], before["rows_sha256"], "pyiceberg agrees");
    let (deletes, status) = delete_files(&env, ident);
    assert!(deletes >= 3, "position delete files in every hour: {status}");
    let by_partition = status["state"]["deletes_by_partition"].as_array().unwrap();
    assert_eq!(by_partition.len(), 3, "{status}");

    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    let details = &doc["reports"][0]["tables"][0]["details"];
    let candidates = details["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 3, "{details}");
    for c in candidates {
        assert!(c["delete_files"].as_u64().unwrap() >= 1, "{c}");
        assert!(c["groups"][0]["delete_files"].as_array().is_some_and(|d| !d.is_empty()), "{c}");
    }
    assert_eq!(details["delete_files_to_apply"].as_u64(), Some(deletes), "{details}");
    assert!(executed(details).iter().all(|g| g.committed()), "{details}");

    let after = read_with_spark(&env, &jars, &idents);
    assert_eq!(after["tables"][ident]["rows_sha256"], before["rows_sha256"], "Spark");
    assert_eq!(after["tables"][ident]["total_rows"], rows);
    let py = run_pyiceberg(&env, &idents);
    let p = &py["tables"][ident];
    assert_eq!(p["rows_sha256"], before["rows_sha256"], "pyiceberg");
    assert_eq!(p["live_data_files"], 3, "one file per hour: {p}");
    let duck = duckdb_scans_hashed(&env, &[(p["metadata_location"].as_str().unwrap(), None)]);
    assert_eq!(duck[0].rows_sha256.as_deref(), before["rows_sha256"].as_str(), "DuckDB");
    let (left, status) = delete_files(&env, ident);
    assert_eq!(left, 0, "the applied delete files are removed: {status}");

    // Nothing is left to do: a second pass plans nothing.
    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    let details = &doc["reports"][0]["tables"][0]["details"];
    assert!(details["candidates"].as_array().unwrap().is_empty(), "{details}");
}

#[tokio::test]
async fn a_delete_committed_during_a_rewrite_is_never_undone() {
    let Some(jars) = require_spark() else { return };
    let Some(pg) = PrivatePg::start() else { return };
    let Some(env) = TestEnv::with_postgres_at(Backend::Postgres, &pg.url()).await else { return };
    env.append_config(CONFIG);
    let idents: Vec<String> = LOGS.run(&env).iter().map(ToString::to_string).collect();
    let ident = &idents[0];
    let spared = LOGS.hour_labels()[2].clone();

    // The pass's compare-and-swap is held back by the proxy until Spark has deleted rows of
    // every hour but the last.
    let (proxy, pass) = compact_with_held_swap(&env, pg.port());
    let t = format!("{}.{ident}", env.pyiceberg().catalog_name);
    let statements = spark_delete(&t, Some(&spared));
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    let spark = spark_sql_then_read(&env, &jars, &statements, &idents);
    let deleted = spark["tables"][ident].clone();
    assert!(deleted["total_rows"].as_u64().unwrap() < LOGS.rows_per_table(), "{deleted}");
    proxy.release();
    let out = pass.wait_timeout(Duration::from_secs(300));
    out.assert_success();
    let doc = out.json();

    // The two hours Spark deleted from are given up; the spared one is committed.
    let details = &doc["reports"][0]["tables"][0]["details"];
    let groups = executed(details);
    assert_eq!(groups.len(), 3, "{details}");
    for g in &groups {
        if g.label == spared {
            assert!(g.committed(), "{g:?}");
        } else {
            assert_eq!((g.status.as_str(), g.kind.as_str()), ("abandoned", "new_deletes"), "{g:?}");
            assert!(g.reason.contains("was committed since the plan"), "{g:?}");
        }
    }
    assert!(details["execution"]["conflicts"].as_u64().unwrap() >= 1, "{details}");
    assert_eq!(doc["failures"], 0, "giving a group up for a new delete is not a failure");
    let now = read_with_spark(&env, &jars, &idents);
    assert_eq!(now["tables"][ident]["rows_sha256"], deleted["rows_sha256"], "the delete stays");
    let py = run_pyiceberg(&env, &idents);
    assert_eq!(py["tables"][ident]["rows_sha256"], deleted["rows_sha256"], "pyiceberg");

    // The next pass applies the delete.
    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    let details = &doc["reports"][0]["tables"][0]["details"];
    let groups = executed(details);
    assert_eq!(groups.len(), 2, "{details}");
    assert!(groups.iter().all(|g| g.committed()), "{details}");
    let after = read_with_spark(&env, &jars, &idents);
    assert_eq!(after["tables"][ident]["rows_sha256"], deleted["rows_sha256"]);
    assert_eq!(delete_files(&env, ident).0, 0);
}
