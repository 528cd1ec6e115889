//! An S3 that answers a fifth of all requests with 503 SlowDown, every request 200 ms late,
//! and cuts a quarter of the data-file reads mid-body: `compactor run --once` ends exactly as it
//! does against a healthy S3, and every injected failure is counted as a retry.

use std::time::{Duration, Instant};

use common::TableKind;
use serde_json::Value;
use tests_integration::fault_proxy::{Fault, FaultProxy, Rule};
use tests_integration::{Backend, TestEnv, require_python};

use super::{assert_references_present, rows_by_hour};
use crate::compactor::{Load, compactor, executed, json_ok, table_entry};

/// Compaction of partitions of 3 files or more; retention off (the data is back-dated).
const CONFIG: &str = "[compactor]\nmin_input_files = 3\n[compactor.retention]\nenabled = false";

/// 2 quiet hours of 4 small files in `traces` and `logs`.
const LOAD: Load = Load {
    signals: &[TableKind::Traces, TableKind::Logs],
    hours: 2,
    files_per_hour: 4,
    rows_per_file: 100,
};

/// What a run did to each table, faults or not: files before and after, groups committed.
fn outcome(doc: &Value, ids: &[common::tables::TableId]) -> Vec<(String, Value, Value, usize)> {
    ids.iter()
        .map(|id| {
            let entry = table_entry(doc, id);
            assert_eq!(entry["error"], Value::Null, "{id}: {entry}");
            let details = &entry["details"];
            let groups = executed(details);
            assert!(groups.iter().all(|g| g.committed()), "{id}: {groups:?}");
            let files = (details["files_before"].clone(), details["files_after"].clone());
            (id.to_string(), files.0, files.1, groups.len())
        })
        .collect()
}

#[tokio::test]
async fn a_slow_s3_failing_and_cutting_requests_changes_nothing_but_the_time() {
    let Some(clean) = TestEnv::new(Backend::S3).await else { return };
    let Some(faulty) = TestEnv::new(Backend::S3).await else { return };
    let Some(_python) = require_python() else { return };
    for env in [&clean, &faulty] {
        env.append_config(CONFIG);
    }
    let ids = LOAD.run(&clean);
    assert_eq!(LOAD.run(&faulty), ids);
    let written = rows_by_hour(&faulty, &ids);
    assert_eq!(rows_by_hour(&clean, &ids), written, "the same seed writes the same rows");

    let started = Instant::now();
    let healthy = json_ok(&compactor(&clean, &["run", "--once", "--json"]));
    let healthy_time = started.elapsed();
    assert_eq!(healthy["dependencies"]["storage_retries"], serde_json::json!({}), "{healthy}");

    let proxy = FaultProxy::start(&faulty.s3().unwrap().endpoint, 14);
    faulty.set_s3_endpoint(&proxy.endpoint());
    proxy.set_latency(Duration::from_millis(200));
    proxy.set_rules(vec![
        Rule::always(Fault::CutMidBody).method("GET").path(".parquet").share(0.25),
        Rule::always(Fault::Status(503)).share(0.2),
    ]);
    let started = Instant::now();
    let out = compactor(&faulty, &["run", "--once", "--json"]);
    let faulty_time = started.elapsed();
    proxy.set_rules(Vec::new());
    proxy.set_latency(Duration::ZERO);
    let doc = json_ok(&out);
    eprintln!("run --once: {healthy_time:?} healthy, {faulty_time:?} at 20% 503s + 200 ms");

    assert_eq!(outcome(&doc, &ids), outcome(&healthy, &ids), "the same work, faults or not");
    let cuts = proxy.seen().iter().filter(|s| s.fault == Some(Fault::CutMidBody)).count();
    let injected = proxy.faults_injected();
    eprintln!("{injected} faults injected, {cuts} of them data files cut mid-body");
    assert!(cuts > 0, "no data file read was cut: {:?}", proxy.seen());
    let seen = proxy.seen().len();
    assert!(injected * 10 > seen, "{injected} 503s of {seen} requests: the share is about 20%");
    let retries: u64 = doc["dependencies"]["storage_retries"]
        .as_object()
        .unwrap_or_else(|| panic!("no storage retries in {doc}"))
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(retries as usize, injected, "every injected fault is counted as a retry: {doc}");
    assert!(out.stderr.contains("503"), "object_store logs its backing off\n{}", out.stderr);

    assert_eq!(rows_by_hour(&faulty, &ids), written, "every row, exactly once");
    assert_eq!(rows_by_hour(&clean, &ids), written);
    for id in &ids {
        assert_references_present(&faulty, id).await;
    }
}
