//! S3 requests failing at each step of a compaction commit: the output data file, a manifest,
//! the manifest list, the new metadata file. Each failure leaves the table exactly as it was
//! (never half-committed) and the attempt removes what it wrote; when it cannot (S3 fails the
//! removal too), the files stay unreferenced, orphan cleanup counts them as orphans kept for
//! the grace period and lists no live file. Once S3 behaves, the next pass commits in full; a
//! request cut once is retried and commits. (The catalog swap's lost answer is
//! `lost_swap`'s.)

use common::TableKind;
use common::tables::TableId;
use serde_json::Value;
use tests_integration::fault_proxy::{Fault, FaultProxy, Rule};
use tests_integration::{Backend, TestEnv, require_python};

use super::{assert_references_present, load, rows_by_hour, with_storage_key};
use crate::compactor::{Load, compactor, executed, json_ok, table_entry};

/// Compaction of partitions of 3 files or more.
const CONFIG: &str = "[compactor]\nmin_input_files = 3";

/// 1 quiet hour of 4 small files in `traces`.
const LOAD: Load =
    Load { signals: &[TableKind::Traces], hours: 1, files_per_hour: 4, rows_per_file: 100 };

/// The S3 PUTs of a commit, in the order a compaction makes them, by what their path holds.
const STEPS: &[(&str, &str)] = &[
    ("data file", "/compacted-"),
    ("manifest", "-m0.avro"),
    ("manifest list", "/snap-"),
    ("metadata file", ".metadata.json"),
];

/// The one table entry of a `compact --json` run, with its executed groups' statuses.
fn compaction(env: &TestEnv, id: &TableId) -> (Value, Vec<String>) {
    let out = compactor(env, &["compact", "--json"]);
    let doc = out.json();
    let entry = table_entry(&doc, id).clone();
    let statuses = executed(&entry["details"]).into_iter().map(|g| g.status).collect();
    (entry, statuses)
}

#[tokio::test]
async fn a_commit_failing_at_any_step_leaves_the_table_as_it_was() {
    let Some(env) = TestEnv::new(Backend::S3).await else { return };
    let Some(_python) = require_python() else { return };
    // Two retries per request, so that a step that always fails gives up fast.
    with_storage_key(&env, "max_retries", 2);
    env.append_config(CONFIG);
    let ids = LOAD.run(&env);
    let id = &ids[0];
    let written = rows_by_hour(&env, &ids);
    let metadata = load(&env, id).await.metadata_location().unwrap().to_string();
    let proxy = FaultProxy::start(&env.s3().unwrap().endpoint, 1);
    env.set_s3_endpoint(&proxy.endpoint());

    for (step, path) in STEPS {
        // The request reaches S3, its answer never reaches the compactor, every time.
        proxy.set_rules(vec![Rule::always(Fault::CutAfterForward).method("PUT").path(path)]);
        let (entry, statuses) = compaction(&env, id);
        proxy.set_rules(Vec::new());
        let failed = entry["error"].as_str().is_some() || statuses.iter().any(|s| s != "committed");
        assert!(failed, "{step}: a commit whose {step} cannot be written did not fail: {entry}");
        assert!(!statuses.iter().any(|s| s == "committed"), "{step}: {entry}");
        let text = entry.to_string();
        assert!(text.contains(path.trim_start_matches('/')), "{step}: the error names it: {entry}");
        let now = load(&env, id).await;
        assert_eq!(now.metadata_location(), Some(metadata.as_str()), "{step}: table changed");
        assert_eq!(rows_by_hour(&env, &ids), written, "{step}: rows");
        let leftovers = assert_references_present(&env, id).await;
        assert_eq!(leftovers, Vec::<String>::new(), "{step}: the attempt removed what it wrote");
    }

    // The metadata write fails and so does every removal: the attempt's files stay behind.
    proxy.set_rules(vec![
        Rule::always(Fault::CutAfterForward).method("PUT").path(".metadata.json"),
        Rule::always(Fault::Status(500)).method("DELETE"),
        Rule::always(Fault::Status(500)).method("POST").path("?delete"),
    ]);
    let (entry, statuses) = compaction(&env, id);
    proxy.set_rules(Vec::new());
    assert!(!statuses.iter().any(|s| s == "committed"), "{entry}");
    let now = load(&env, id).await;
    assert_eq!(now.metadata_location(), Some(metadata.as_str()), "table changed: {entry}");
    let leftovers = assert_references_present(&env, id).await;
    assert!(!leftovers.is_empty(), "the undeletable attempt left its files: {entry}");

    // Orphan cleanup sees exactly those as unreferenced, keeps them for the grace period
    // (they are minutes old) and lists no live file.
    let doc = json_ok(&compactor(&env, &["orphans", "--dry-run", "--json"]));
    let details = &table_entry(&doc, id)["details"];
    assert_eq!(details["skipped_by_grace"], leftovers.len(), "{details}");
    assert_eq!(details["candidates"], serde_json::json!([]), "{details}");

    // A metadata write cut once is retried by object_store and the commit goes through.
    proxy.set_rules(vec![
        Rule::always(Fault::CutAfterForward).method("PUT").path(".metadata.json").times(1),
    ]);
    let (entry, statuses) = compaction(&env, id);
    // Each failing step's PUT was tried three times (two retries), the last cut once.
    assert!(proxy.faults_injected() > STEPS.len() * 3, "{:?}", proxy.seen());
    assert_eq!(entry["error"], Value::Null, "{entry}");
    assert_eq!(statuses, ["committed"], "{entry}");
    let now = load(&env, id).await;
    assert_ne!(now.metadata_location(), Some(metadata.as_str()), "committed in full");
    assert_eq!(now.metadata().snapshots().count(), LOAD.hours as usize + 1);
    assert_eq!(rows_by_hour(&env, &ids), written, "every row, exactly once");
    assert_references_present(&env, id).await;
}
