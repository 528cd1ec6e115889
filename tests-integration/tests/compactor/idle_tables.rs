//! Idle tables cost no load: once a `compactor compact` pass found nothing to do on a table,
//! later passes (other processes) leave it unloaded while its metadata location is unchanged,
//! count it in the report and write no run-history row; the first pass after new files
//! arrive compacts that table alone.

use common::TableKind;
use serde_json::Value;
use sqlx::Connection;
use tests_integration::{Backend, TestEnv};

use super::{Load, compactor, json_ok, table_entry};

/// Partitions of 3 or more small files are compacted.
const CONFIG: &str = "[compactor]\nmin_input_files = 3";

const TABLES: Load = Load {
    signals: &[TableKind::Traces, TableKind::Logs, TableKind::Metrics],
    hours: 2,
    files_per_hour: 3,
    rows_per_file: 100,
};

#[tokio::test]
async fn idle_tables_are_not_loaded_on_sqlite() {
    idle_tables_are_not_loaded(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn idle_tables_are_not_loaded_on_postgres() {
    idle_tables_are_not_loaded(Backend::Postgres).await;
}

/// The report of a `compactor compact --json` pass that must succeed.
#[track_caller]
fn compact(env: &TestEnv) -> Value {
    let doc = json_ok(&compactor(env, &["compact", "--json"]));
    doc["reports"][0].clone()
}

/// How many tables the pass loaded, and how many it left unloaded.
fn loaded_and_unchanged(report: &Value) -> (usize, u64) {
    (report["tables"].as_array().unwrap().len(), report["unchanged"].as_u64().unwrap())
}

/// The rows of the run history.
async fn history_rows(env: &TestEnv) -> i64 {
    let catalog = env.catalog().await;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(catalog.database_uri()).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM signaldb_compactor_runs")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

async fn idle_tables_are_not_loaded(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    env.append_config(CONFIG);
    let ids = TABLES.run(&env);

    // The first pass compacts every table (one history row each).
    let first = compact(&env);
    assert_eq!(loaded_and_unchanged(&first), (3, 0), "{first}");
    for id in &ids {
        let wrapper = serde_json::json!({ "reports": [first.clone()] });
        let execution = &table_entry(&wrapper, id)["details"]["execution"];
        assert_eq!(execution["files_removed"], 6, "{id}: {execution}");
    }
    assert_eq!(history_rows(&env).await, 3);

    // The second loads them (they changed) and finds nothing to do: its rows are thinned
    // (the last row of each is recent), its finding is kept for the next pass.
    let second = compact(&env);
    assert_eq!(loaded_and_unchanged(&second), (3, 0), "{second}");
    assert_eq!(history_rows(&env).await, 3);

    // The third, another process, loads none of them, and records nothing.
    let third = compact(&env);
    assert_eq!(loaded_and_unchanged(&third), (0, 3), "{third}");
    assert_eq!(history_rows(&env).await, 3);

    // New small files in traces: the next pass loads and compacts it alone.
    let more = Load { signals: &[TableKind::Traces], hours: 1, ..TABLES };
    more.run_ending_at(&env, "2026-01-15T20:00:00Z", 7);
    let fourth = compact(&env);
    assert_eq!(loaded_and_unchanged(&fourth), (1, 2), "{fourth}");
    let traces = &fourth["tables"][0];
    assert_eq!(traces["table"], "traces", "{fourth}");
    assert_eq!(traces["details"]["execution"]["files_removed"], 3, "{traces}");
    assert_eq!(history_rows(&env).await, 4);

    // Compacted, it is found idle once more, then left alone.
    assert_eq!(loaded_and_unchanged(&compact(&env)), (1, 2));
    assert_eq!(loaded_and_unchanged(&compact(&env)), (0, 3));
    assert_eq!(history_rows(&env).await, 4);
}
