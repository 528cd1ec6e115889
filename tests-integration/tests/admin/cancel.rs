//! A compaction cancelled while it rewrites (`DELETE /runs/{id}`): `202`, then `cancelled`;
//! nothing committed, the groups rewritten abandoned and their files deleted, the groups not
//! started left so (none starts after the cancel), the table's metadata and its files exactly
//! as before. While the run is in flight a second compaction of the table is `409` naming it,
//! and another job on the table may start.
//!
//! The rewrite is held where it cannot race the cancel: on S3, every write of a data file
//! waits in the fault proxy until the test releases it; on the local filesystem the partitions
//! are large enough that the rewrites outlast the test's reaction to the first file written
//! by several hundred milliseconds (and a run that raced to its end fails the test: its
//! `DELETE` is `409`, its state `succeeded`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::TableKind;
use common::tables::TableId;
use serde_json::{Value, json};
use tests_integration::fault_proxy::{Fault, FaultProxy, Rule};
use tests_integration::orphans::local_path;
use tests_integration::{Backend, TestEnv};

use super::{
    Api, Data, configure, error_of, files_of, message_of, table_path, table_version, with_token,
};

/// One writer per table at a time, one group rewritten at a time (sorted groups take a whole
/// slot): the groups after the first wait for the slot.
const ONE_SLOT: &str = "max_concurrent_jobs = 1\n";

/// How long a run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// What S3's variant writes: small, since the proxy holds the rewrite.
const HELD: Data = Data {
    tenants: &["acme"],
    signals: &[TableKind::Traces],
    hours: 4,
    files_per_hour: 3,
    rows_per_file: 50,
};

/// What the local filesystem's variant writes: six groups of about 15,000 rows, each rewrite
/// taking a good hundred milliseconds.
const LARGE: Data = Data {
    tenants: &["acme"],
    signals: &[TableKind::Traces],
    hours: 6,
    files_per_hour: 3,
    rows_per_file: 5_000,
};

fn traces() -> TableId {
    TableId::new("acme", "prod", TableKind::Traces).unwrap()
}

#[tokio::test]
async fn a_run_cancelled_mid_rewrite_leaves_the_table_as_it_was_postgres_s3() {
    let Some(env) = TestEnv::new(Backend::PostgresS3).await else { return };
    let written = HELD.write(&env);
    let hours = written.hours.len() as u64;
    let id = traces();
    let proxy = FaultProxy::start(&env.s3().unwrap().endpoint, 3);
    env.set_s3_endpoint(&proxy.endpoint());
    configure(&env, ONE_SLOT, &with_token(""));
    let (before, files_before) = (table_version(&env, &id).await, files_of(&env, &id).await);
    let api = Api::start(&env, &[]);
    let instance = api.get_json("/api/v1/leases")["instance"].as_str().unwrap().to_string();

    let data_put = |method: &str, path: &str| method == "PUT" && path.contains("/data/");
    proxy.set_rules(vec![Rule::always(Fault::Hold).method("PUT").path("/data/")]);
    let run = api.start_run(&id, "compact", None);
    let run_id = run["id"].as_str().unwrap().to_string();
    let waited = Instant::now();
    while proxy.held() == 0 {
        let state = api.get_json(&format!("/api/v1/runs/{run_id}"));
        assert_eq!(state["state"], "running", "the run ended before writing a file: {state}");
        assert!(waited.elapsed() < Duration::from_secs(60), "no data file written: {state}");
        std::thread::sleep(Duration::from_millis(20));
    }

    refuses_a_second_compaction(&api, &id, &run_id);
    // Another job may start on the table at once: a dry run takes no lease.
    let retention = api.start_run(&id, "retention", Some(json!({"dry_run": true})));
    let retention = api.wait_run(retention["id"].as_str().unwrap(), RUN_TIMEOUT);
    assert_eq!(retention["state"], "succeeded", "{retention}");

    // The run holds the table's compaction lease, and the table's detail shows it running.
    let leases = api.get_json("/api/v1/leases");
    let held: Vec<(&Value, &Value, &Value, &Value)> = leases["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (&l["namespace"], &l["table"], &l["job"], &l["owner"]))
        .collect();
    let expected = (&json!("acme.prod"), &json!("traces"), &json!("compaction"), &json!(instance));
    assert_eq!(held, [expected], "{leases}");
    assert_eq!(leases["instances"], json!([{"instance": instance, "this": true, "leases": 1}]));
    let detail = api.get_json(&table_path(&id));
    assert_eq!(detail["status"]["lease"]["owner"], json!(instance), "{detail}");
    let requested: Vec<(&Value, &Value)> = detail["requested_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (&r["job"], &r["state"]))
        .collect();
    assert_eq!(
        requested,
        [(&json!("retention"), &json!("succeeded")), (&json!("compaction"), &json!("running"))],
        "newest first: {detail}"
    );

    cancel_while_running(&api, &run_id);
    let held = proxy.held();
    proxy.release();
    let run = api.wait_run(&run_id, RUN_TIMEOUT);
    let execution = assert_cancelled(&run, hours);
    assert_eq!(execution["groups_abandoned"], held, "the held groups: {run}");
    assert_eq!(execution["groups_not_started"], hours - held as u64, "{run}");
    let writes = proxy.seen().iter().filter(|s| data_put(&s.method, &s.path)).count();
    assert_eq!(writes, held, "no group started a rewrite after the cancel: {run}");
    assert_ended(&api, &run_id);

    assert_eq!(table_version(&env, &id).await, before, "nothing committed");
    assert_eq!(files_of(&env, &id).await, files_before, "no file left behind");
    assert_eq!(api.get_json("/api/v1/leases")["leases"], json!([]), "the lease is released");

    // Nothing of the cancelled run stands in the way of the next one.
    proxy.set_rules(Vec::new());
    let again = api.start_run(&id, "compact", None);
    let again = api.wait_run(again["id"].as_str().unwrap(), RUN_TIMEOUT);
    assert_eq!(again["state"], "succeeded", "{again}");
    assert_eq!(again["report"]["details"]["execution"]["groups_committed"], hours, "{again}");
    assert_ne!(table_version(&env, &id).await, before);
    api.stop();
}

#[tokio::test]
async fn a_run_cancelled_mid_rewrite_leaves_the_table_as_it_was_sqlite_local() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let written = LARGE.write(&env);
    let hours = written.hours.len() as u64;
    let id = traces();
    configure(&env, ONE_SLOT, &with_token(""));
    let (before, files_before) = (table_version(&env, &id).await, files_of(&env, &id).await);
    let table = env.catalog().await.load_table(&id.ident()).await.unwrap();
    let dir = local_path(table.metadata().location());
    let on_disk = files_under(&dir);
    let api = Api::start(&env, &[]);

    let run = api.start_run(&id, "compact", None);
    let run_id = run["id"].as_str().unwrap().to_string();
    refuses_a_second_compaction(&api, &id, &run_id);
    // The first file a rewrite writes: the cancel then lands while the groups rewrite.
    let waited = Instant::now();
    while files_under(&dir).is_subset(&on_disk) {
        assert!(waited.elapsed() < Duration::from_secs(60), "no data file written");
        std::thread::sleep(Duration::from_millis(2));
    }
    cancel_while_running(&api, &run_id);
    let run = api.wait_run(&run_id, RUN_TIMEOUT);
    let execution = assert_cancelled(&run, hours);
    let not_started = execution["groups_not_started"].as_u64().unwrap();
    assert!(not_started >= 1, "the groups after the cancel were not started: {run}");
    assert!(execution["groups_abandoned"].as_u64().unwrap() >= 1, "{run}");
    assert_ended(&api, &run_id);

    assert_eq!(table_version(&env, &id).await, before, "nothing committed");
    assert_eq!(files_of(&env, &id).await, files_before, "no file left behind");
    assert_eq!(files_under(&dir), on_disk);
    api.stop();
}

/// A second `POST /compact` of `id` while run `run_id` is in flight: `409`, naming the run.
#[track_caller]
fn refuses_a_second_compaction(api: &Api, id: &TableId, run_id: &str) {
    let second = api.post(&format!("{}/compact", table_path(id)), None);
    assert_eq!(error_of(&second), (409, "conflict".into()), "{}", second.body);
    let message = message_of(&second);
    assert!(message.contains(run_id), "the run in flight is named: {message}");
}

/// `DELETE /runs/{id}` of a running run: `202`, `cancelling`; again, the same.
#[track_caller]
fn cancel_while_running(api: &Api, run_id: &str) {
    let path = format!("/api/v1/runs/{run_id}");
    for _ in 0..2 {
        let cancelled = api.delete(&path);
        assert_eq!(cancelled.status, 202, "the run was still running: {}", cancelled.body);
        let run = cancelled.json();
        assert_eq!((&run["id"], &run["state"]), (&json!(run_id), &json!("cancelling")), "{run}");
    }
}

/// Checks that `run` ended `cancelled` having committed nothing, its rewritten groups
/// abandoned for the cancel; returns its execution.
#[track_caller]
fn assert_cancelled(run: &Value, hours: u64) -> &Value {
    assert_eq!(run["state"], "cancelled", "{run}");
    eprintln!("cancelled run: {}", run["summary"]);
    let execution = &run["report"]["details"]["execution"];
    assert_eq!(execution["groups_committed"], 0, "{run}");
    let (abandoned, not_started) = (
        execution["groups_abandoned"].as_u64().unwrap(),
        execution["groups_not_started"].as_u64().unwrap(),
    );
    assert_eq!(abandoned + not_started, hours, "every group abandoned or not started: {run}");
    for group in execution["groups"].as_array().unwrap() {
        assert_eq!((&group["status"], &group["kind"]), (&json!("abandoned"), &json!("cancelled")));
    }
    let summary = run["summary"].as_str().unwrap();
    assert!(summary.contains("0 group(s) committed"), "{summary}");
    assert!(summary.contains("not started (the pass was cancelled)"), "{summary}");
    execution
}

/// A `DELETE` of the ended run `run_id`: `409`, saying it has ended.
#[track_caller]
fn assert_ended(api: &Api, run_id: &str) {
    let again = api.delete(&format!("/api/v1/runs/{run_id}"));
    assert_eq!(error_of(&again), (409, "conflict".into()), "{}", again.body);
    assert!(message_of(&again).contains("already ended (cancelled)"), "{}", again.body);
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.insert(path);
            }
        }
    }
    out
}
