//! Failures stay contained: a table whose metadata is unreadable fails alone, in one-shot
//! passes and in the daemon; a catalog that cannot be reached makes the daemon not ready, but
//! keeps it up and retrying.

use std::time::{Duration, Instant};

use common::TableKind;
use common::tables::TableId;
use iceberg::Catalog;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::Value;
use tests_integration::{Backend, TestEnv, require_postgres};

use super::{
    COMPACTOR, Daemon, FILES_PER_TABLE, assert_spec_families, command, count_log, cycles, loadgen,
    table_value,
};

/// Overwrites the metadata file `id` currently points at with garbage (through the warehouse's
/// object store, so on any backend) and returns its location.
async fn break_table(env: &TestEnv, id: &TableId) -> String {
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let location = table.metadata_location().expect("a loaded table has metadata").to_string();
    let warehouse = catalog.warehouse();
    let path = warehouse.object_path(&location).unwrap();
    warehouse
        .object_store()
        .put(&path, PutPayload::from_static(b"{ this is not table metadata"))
        .await
        .unwrap_or_else(|e| panic!("overwriting {location}: {e}"));
    location
}

/// An env with `acme.prod.{traces,logs,metrics}` whose `logs` table cannot be loaded.
async fn env_with_broken_logs() -> Option<(TestEnv, Vec<TableId>, TableId)> {
    let env = TestEnv::new(Backend::SqliteLocal).await?;
    let tables = loadgen(&env, &["acme"]);
    let broken = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    break_table(&env, &broken).await;
    Some((env, tables, broken))
}

#[tokio::test]
async fn one_broken_table_fails_alone_in_a_one_shot_pass() {
    let Some((env, tables, broken)) = env_with_broken_logs().await else { return };

    let out = command(COMPACTOR, &env).args(["compact", "--json"]).run();
    assert_eq!(out.status.code(), Some(1), "{}", out.streams());
    let doc = out.json();
    assert_eq!(doc["failures"], 1, "{doc}");
    let report = &doc["reports"][0];
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    let entries = report["tables"].as_array().unwrap();
    assert_eq!(entries.len(), tables.len(), "{report}");
    for (entry, id) in entries.iter().zip(&tables) {
        assert_eq!(entry["table"], id.table.as_str(), "{report}");
        if *id == broken {
            let error = entry["error"].as_str().unwrap_or_else(|| panic!("{id} did not fail"));
            assert!(error.contains("metadata"), "{error}");
            assert_eq!(entry["details"], Value::Null, "{entry}");
        } else {
            assert_eq!(entry["error"], Value::Null, "{id} failed: {entry}");
            assert!(entry["summary"].as_str().is_some_and(|s| !s.is_empty()), "{entry}");
        }
    }
    // The log line names the table, with its labels.
    let logged: Vec<&str> = out.stderr.lines().filter(|l| l.contains("failed for table")).collect();
    assert_eq!(logged.len(), 1, "{}", out.stderr);
    for needle in ["acme.prod.logs", "tenant=acme", "dataset=prod", "table=logs"] {
        assert!(logged[0].contains(needle), "no {needle} in {}", logged[0]);
    }

    // The human summary says which table failed and why, the others as usual.
    let out = command(COMPACTOR, &env).args(["retention", "--dry-run"]).run();
    assert_eq!(out.status.code(), Some(1), "{}", out.streams());
    assert!(
        out.stdout.starts_with("retention [DRY-RUN]: 3 table(s), 1 failure(s)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("  acme.prod.logs: failed: "), "{}", out.stdout);
    for id in tables.iter().filter(|id| **id != broken) {
        let line = format!("\n  {id}: ");
        assert!(out.stdout.contains(&line), "no `{line}`\n{}", out.stdout);
        assert!(!out.stdout.contains(&format!("{line}failed")), "{id} failed\n{}", out.stdout);
    }

    // Scoped away from the broken table, the pass succeeds.
    let out = command(COMPACTOR, &env).args(["orphans", "--signal", "traces", "--json"]).run();
    out.assert_success();
    assert_eq!(out.json()["failures"], 0);
}

#[tokio::test]
async fn daemon_keeps_every_scheduler_running_past_a_broken_table() {
    let Some((env, tables, broken)) = env_with_broken_logs().await else { return };
    env.append_config(
        "[compactor]\ncompaction_interval_secs = 1\n\n\
         [compactor.retention]\nenabled = true\nretention_check_interval_secs = 1\n\n\
         [compactor.orphan_cleanup]\nenabled = true",
    );
    let mut daemon = Daemon::start(|| command(COMPACTOR, &env).args(["run"]));
    let metrics = daemon.scrape_until("repeated failed cycles", Duration::from_secs(20), |m| {
        cycles(m, "compaction", "failure") >= 3.0
            && cycles(m, "retention", "failure") >= 3.0
            && cycles(m, "orphan_cleanup", "failure") >= 1.0
    });
    assert!(daemon.is_running());
    assert_spec_families(&metrics, &tables, &["compaction", "retention", "orphan_cleanup"]);
    for id in tables.iter().filter(|id| **id != broken) {
        let files = table_value(&metrics, "compactor_table_data_files", id);
        assert_eq!(files, Some(FILES_PER_TABLE as f64), "healthy {id} still measured");
    }
    for job in ["compaction", "retention"] {
        let labels = [("tenant", "acme"), ("dataset", "prod"), ("table", "logs"), ("task", job)];
        // Summed over the failure's kinds.
        let failures = metrics.sum("compactor_table_failures_total", &labels);
        assert!(failures >= 3.0, "compactor_table_failures_total{labels:?} = {failures}");
        assert_eq!(cycles(&metrics, job, "success"), 0.0, "{job}");
    }
    let healthy = [("tenant", "acme"), ("dataset", "prod"), ("table", "traces")];
    assert_eq!(metrics.sum("compactor_table_failures_total", &healthy), 0.0);

    // Liveness and readiness do not depend on one table.
    assert_eq!(daemon.get("/healthz").status, 200);
    assert_eq!(daemon.get("/readyz").status, 200);

    // And the failure counts keep growing: every tick retries.
    let before = cycles(&metrics, "compaction", "failure");
    daemon.scrape_until("more failed compaction cycles", Duration::from_secs(10), |m| {
        cycles(m, "compaction", "failure") > before
    });
    let out = daemon.stop();
    assert!(count_log(&out.stderr, "failed for table acme.prod.logs") >= 6, "{}", out.streams());
    assert_eq!(count_log(&out.stderr, "Compactor stopped"), 1, "{}", out.streams());
}

/// The catalog is a PostgreSQL database that does not exist: the daemon stays alive and keeps
/// retrying, `/readyz` says why it is not ready, and a one-shot pass exits 1 with the error.
#[tokio::test]
async fn unreachable_catalog_keeps_the_daemon_alive_but_not_ready() {
    let Some(admin_url) = require_postgres() else { return };
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let mut url = url::Url::parse(&admin_url).unwrap();
    let missing = format!("sdb_missing_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    url.set_path(&missing);
    // A password in the URI must never be printed.
    let secret = "hunter2-catalog-secret";
    url.set_password(Some(secret)).unwrap();
    let catalog_uri = url.to_string();
    let with_catalog = |args: &[&str]| {
        command(COMPACTOR, &env)
            .env("SIGNALDB_SCHEMA_CATALOG_URI", &catalog_uri)
            .env("SIGNALDB_COMPACTOR_COMPACTION_INTERVAL_SECS", "1")
            .env("SIGNALDB_COMPACTOR_RETENTION_ENABLED", "true")
            .env("SIGNALDB_COMPACTOR_RETENTION_RETENTION_CHECK_INTERVAL_SECS", "1")
            .args(args)
    };

    let mut daemon = Daemon::start(|| with_catalog(&["run"]));
    let metrics = daemon.scrape_until("failed cycles", Duration::from_secs(20), |m| {
        cycles(m, "compaction", "failure") >= 2.0 && cycles(m, "retention", "failure") >= 2.0
    });
    assert_eq!(cycles(&metrics, "compaction", "success"), 0.0);
    assert_eq!(daemon.get("/healthz").status, 200, "alive although the catalog is not");
    let ready = daemon.get("/readyz");
    assert_eq!(ready.status, 503, "{}", ready.body);
    let ready = ready.json();
    assert_eq!(ready["ready"], false, "{ready}");
    let catalog = &ready["components"]["catalog"];
    assert_eq!(catalog["state"], "failing", "{ready}");
    assert!(catalog["last_error"].as_str().is_some_and(|e| e.contains(&missing)), "{ready}");
    assert_eq!(ready["components"]["object_store"]["state"], "ok", "{ready}");
    assert!(!ready.to_string().contains(secret), "{ready}");
    let out = daemon.stop();
    assert!(!out.stderr.contains(secret), "password logged\n{}", out.stderr);

    let out = with_catalog(&["compact"]).run();
    assert_eq!(out.status.code(), Some(1), "{}", out.streams());
    assert!(out.stdout.starts_with("compaction: 0 table(s), 1 failure(s)"), "{}", out.streams());
    let error_line = out.stdout.lines().find(|l| l.starts_with("  error: ")).unwrap_or_default();
    assert!(error_line.contains(&missing), "{}", out.streams());

    let out = with_catalog(&["compact", "--json"]).run();
    assert_eq!(out.status.code(), Some(1), "{}", out.streams());
    let doc = out.json();
    assert_eq!(doc["failures"], 1, "{doc}");
    let errors = doc["reports"][0]["errors"].as_array().unwrap();
    assert!(errors.len() == 1 && errors[0].as_str().unwrap().contains(&missing), "{doc}");
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(secret), "password printed\n{}", out.streams());
    }
}

/// The catalog is PostgreSQL on a loopback port nothing listens on: a one-shot command fails
/// at once (not after a pool's 30 s timeout) and says the connection was refused.
#[tokio::test]
async fn a_refused_catalog_is_reported_at_once_as_refused() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let port = tests_integration::http::free_port();
    let uri = format!("postgres://postgres:hunter2-refused@127.0.0.1:{port}/signaldb");
    let started = Instant::now();
    let out = command(COMPACTOR, &env)
        .env("SIGNALDB_SCHEMA_CATALOG_URI", &uri)
        .args(["compact", "--json"])
        .run();
    assert_eq!(out.status.code(), Some(1), "{}", out.streams());
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let errors = out.json()["reports"][0]["errors"].to_string();
    assert!(errors.to_lowercase().contains("connection refused"), "{}", out.streams());
    assert!(errors.contains(&format!("127.0.0.1:{port}")), "{errors}");
    assert!(!out.streams().contains("hunter2-refused"), "{}", out.streams());
}
