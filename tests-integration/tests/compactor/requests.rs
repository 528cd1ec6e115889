//! Object-store requests counted on S3: a `compact` pass reports each table's requests and
//! their sum, the run history keeps them (read back by `status`), and the daemon exports them
//! as `compactor_storage_requests_total` and `compactor_storage_request_bytes_total`.

use std::time::Duration;

use common::TableKind;
use serde_json::Value;
use tests_integration::{Backend, TestEnv};

use super::{Load, compactor, json_ok, table_entry};
use crate::service::{COMPACTOR, Daemon, command, cycles};

/// 2 closed hours of 6 small files in `logs` and `traces`: a group per hour to rewrite.
const LOAD: Load = Load {
    signals: &[TableKind::Traces, TableKind::Logs],
    hours: 2,
    files_per_hour: 6,
    rows_per_file: 100,
};

/// The fields of a `requests` object.
const FIELDS: [&str; 7] = ["get", "put", "list", "head", "delete", "bytes_read", "bytes_written"];

/// The counts of a `requests` object, in [`FIELDS`] order.
#[track_caller]
fn counts(requests: &Value) -> [u64; 7] {
    FIELDS.map(|f| requests[f].as_u64().unwrap_or_else(|| panic!("no {f} in {requests}")))
}

#[tokio::test]
async fn requests_are_reported_recorded_and_exported_on_sqlite_s3() {
    requests_are_reported_recorded_and_exported(Backend::S3).await;
}

#[tokio::test]
async fn requests_are_reported_recorded_and_exported_on_postgres_s3() {
    requests_are_reported_recorded_and_exported(Backend::PostgresS3).await;
}

async fn requests_are_reported_recorded_and_exported(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    env.append_config("[compactor]\nmin_input_files = 3");
    let ids = LOAD.run(&env);
    let (traces, logs) = (&ids[0], &ids[1]);
    assert_eq!(logs.table, TableKind::Logs);

    // A pass over `logs`: its report counts the table's requests, and the pass their sum.
    let doc = json_ok(&compactor(&env, &["compact", "--signal", "logs", "--json"]));
    let entry = table_entry(&doc, logs);
    let table = counts(&entry["requests"]);
    let [get, put, _, _, _, read, written] = table;
    assert!(get >= 12 && put >= 2 && read > 0 && written > 0, "{entry}");
    eprintln!("compact logs ({backend:?}): requests {}", entry["requests"]);
    assert_eq!(counts(&doc["reports"][0]["requests"]), table, "{doc}");

    // The run history holds the same counts (written by the pass, read back by `status`).
    let status = compactor(&env, &["status", "--signal", "logs", "--json"]).json();
    let recorded = status["tables"][0]["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobs in {status}"))
        .iter()
        .find(|j| j["job"] == "compaction")
        .map(|j| j["last_run"].clone())
        .unwrap_or_default();
    assert_eq!(recorded["outcome"], "success", "{status}");
    assert_eq!(counts(&recorded["requests"]), table, "{recorded}");

    // The text report has the pass's in one line.
    let out = compactor(&env, &["compact", "--signal", "logs", "--dry-run"]);
    out.assert_success();
    assert!(out.stdout.contains("\n  requests: "), "{}", out.streams());

    // The daemon compacts `traces` and exports every request by operation, with the bytes.
    let mut daemon = Daemon::start(|| {
        command(COMPACTOR, &env)
            .args(["run"])
            .env("SIGNALDB_COMPACTOR_COMPACTION_INTERVAL_SECS", "1")
    });
    let metrics = daemon.scrape_until("a compaction cycle", Duration::from_secs(60), |m| {
        cycles(m, "compaction", "success") >= 1.0
    });
    daemon.stop();
    let requests =
        |operation| metrics.value("compactor_storage_requests_total", &[("operation", operation)]);
    let bytes = |direction| {
        metrics.value("compactor_storage_request_bytes_total", &[("direction", direction)])
    };
    assert!(requests("GET").is_some_and(|n| n > 0.0), "GET: {:?}", requests("GET"));
    assert!(requests("PUT").is_some_and(|n| n > 0.0), "PUT: {:?}", requests("PUT"));
    for operation in ["LIST", "HEAD", "DELETE"] {
        assert!(requests(operation).is_some(), "{operation} is exported from the start");
    }
    assert!(bytes("read").is_some_and(|b| b > 0.0) && bytes("write").is_some_and(|b| b > 0.0));
    let doc = compactor(&env, &["status", "--signal", "traces", "--json"]).json();
    assert_eq!(doc["tables"][0]["state"]["data_files"], 2, "{traces} compacted: {doc}");
}
