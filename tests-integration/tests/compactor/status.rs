//! `compactor status` on real tables: what a newcomer's first look shows, how compaction and
//! retention change it, and the exit status cron relies on; the warning signs it reports are
//! provoked on a real warehouse and cleared by fixing the configuration.

use common::TableKind;
use serde_json::Value;
use tests_integration::{Backend, TestEnv};

use super::{Load, compactor, json_ok};

/// 3 closed hours of 6 small files in `logs`, all long past the 3-day log retention.
const LOAD: Load =
    Load { signals: &[TableKind::Logs], hours: 3, files_per_hour: 6, rows_per_file: 100 };

#[tokio::test]
async fn status_shows_health_warnings_and_each_jobs_last_pass_on_sqlite_local() {
    status_shows_health_warnings_and_each_jobs_last_pass(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn status_shows_health_warnings_and_each_jobs_last_pass_on_postgres_s3() {
    status_shows_health_warnings_and_each_jobs_last_pass(Backend::PostgresS3).await;
}

/// The one table of a `status --json` document.
#[track_caller]
fn only_table(doc: &Value) -> &Value {
    let tables = doc["tables"].as_array().unwrap_or_else(|| panic!("no tables in {doc}"));
    assert_eq!(tables.len(), 1, "{doc}");
    &tables[0]
}

fn checks(table: &Value) -> Vec<&str> {
    table["warnings"].as_array().unwrap().iter().map(|w| w["check"].as_str().unwrap()).collect()
}

fn job<'a>(table: &'a Value, name: &str) -> &'a Value {
    table["jobs"].as_array().unwrap().iter().find(|j| j["job"] == name).unwrap()
}

async fn status_shows_health_warnings_and_each_jobs_last_pass(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    env.append_config("[compactor]\nmin_input_files = 3");
    LOAD.run(&env);

    // Retention is off by default: the old data is a warning sign, the small files a backlog.
    let out = compactor(&env, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(1), "unhealthy\n{}", out.streams());
    let doc = out.json();
    let t = only_table(&doc);
    assert_eq!([&t["state"]["data_files"], &t["state"]["small_files"]], [18, 18], "{t}");
    assert_eq!(t["retention"]["files_past_retention"], 18, "{t}");
    assert_eq!(checks(t), ["storage_grows_despite_retention"], "{t}");
    assert_eq!(t["health"]["healthy"], false, "{t}");
    assert!(job(t, "compaction")["last_run"].is_null(), "{t}");
    let text = compactor(&env, &["status"]);
    assert!(text.stdout.contains("acme.prod.logs"), "{}", text.stdout);
    assert!(text.stdout.contains("warning storage_grows_despite_retention: "), "{}", text.stdout);
    assert!(text.stdout.contains("1 table(s), 1 unhealthy"), "{}", text.stdout);

    // A compaction pass is in the history with what it changed; the backlog is gone.
    json_ok(&compactor(&env, &["compact", "--json"]));
    let doc = compactor(&env, &["status", "--json"]).json();
    let t = only_table(&doc);
    let run = &job(t, "compaction")["last_run"];
    assert_eq!(run["outcome"], "success", "{t}");
    assert_eq!([&run["changes"]["files_removed"], &run["changes"]["files_added"]], [18, 3], "{t}");
    assert_eq!([&run["changes"]["partitions"], &run["changes"]["snapshots"]], [3, 1], "{t}");
    assert_eq!(t["state"]["data_files"], 3, "{t}");

    // Fixing the configuration clears the warning; retention then drops the old data and the
    // table is healthy: exit 0.
    env.append_config(
        "[compactor.retention]\nenabled = true\n[compactor.orphan_cleanup]\nenabled = true",
    );
    let doc = compactor(&env, &["status", "--json"]).json();
    assert!(checks(only_table(&doc)).is_empty(), "{doc}");
    json_ok(&compactor(&env, &["retention", "--json"]));
    let out = compactor(&env, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "healthy\n{}", out.streams());
    let doc = out.json();
    let t = only_table(&doc);
    assert_eq!([&t["state"]["data_files"], &t["retention"]["files_past_retention"]], [0, 0]);
    assert_eq!(job(t, "retention")["last_run"]["changes"]["partitions"], 3, "{t}");
    assert_eq!(t["health"]["score"], 100, "{t}");
}
