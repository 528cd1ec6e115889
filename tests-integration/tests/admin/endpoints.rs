//! Every endpoint on real data: the tables and their filters, a table's detail against what was
//! written, its plan, the leases; a compaction started through the API and committed (seen by
//! the API, by `compactor status --json` and in the catalog); a dry run that changes nothing;
//! the run history a page at a time.

use std::collections::BTreeSet;
use std::time::Duration;

use common::TableKind;
use common::tables::TableId;
use serde_json::{Value, json};
use tests_integration::{Backend, TestEnv};

use super::{
    Api, Data, Written, configure, listed, status_entry, status_json, table_path, table_version,
    with_token,
};

/// Two tenants × traces and logs, 3 hours of 3 files each.
const DATA: Data = Data {
    tenants: &["acme", "globex"],
    signals: &[TableKind::Traces, TableKind::Logs],
    hours: 3,
    files_per_hour: 3,
    rows_per_file: 40,
};

/// How long a run on this data may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn every_endpoint_on_real_data_sqlite_local() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    every_endpoint_on_real_data(&env).await;
}

#[tokio::test]
async fn every_endpoint_on_real_data_postgres_s3() {
    let Some(env) = TestEnv::new(Backend::PostgresS3).await else { return };
    every_endpoint_on_real_data(&env).await;
}

async fn every_endpoint_on_real_data(env: &TestEnv) {
    let written = DATA.write(env);
    configure(env, "", &with_token(""));
    let api = Api::start(env, &[]);
    let files = DATA.hours * DATA.files_per_hour;

    tables_and_filters(&api, &written, files);
    let table = |tenant: &str, kind| TableId::new(tenant, "prod", kind).unwrap();
    let (acme_traces, acme_logs) =
        (&table("acme", TableKind::Traces), &table("acme", TableKind::Logs));
    let (globex_traces, globex_logs) =
        (&table("globex", TableKind::Traces), &table("globex", TableKind::Logs));
    detail_matches_what_was_written(&api, &written, acme_traces);
    plan_of(&api, acme_traces, written.hours.len());
    assert_eq!(api.get_json("/api/v1/runs")["runs"], json!([]), "plans and reads record no run");
    leases_when_idle(&api);

    compaction_commits(env, &api, acme_traces, &written, files).await;
    dry_run_changes_nothing(env, &api, acme_logs, files).await;

    // Two more runs for the history: retention (nothing is old enough to drop) and a dry run
    // of orphan cleanup.
    let retention = api.start_run(globex_traces, "retention", None);
    let retention = api.wait_run(retention["id"].as_str().unwrap(), RUN_TIMEOUT);
    assert_eq!(retention["state"], "succeeded", "{retention}");
    let orphans = api.start_run(globex_logs, "orphans", Some(json!({"dry_run": true})));
    let orphans = api.wait_run(orphans["id"].as_str().unwrap(), RUN_TIMEOUT);
    assert_eq!((&orphans["state"], &orphans["dry_run"]), (&json!("succeeded"), &json!(true)));
    run_history_pages(&api);

    let mut api = api;
    assert!(api.is_running());
    api.stop();
}

/// `GET /tables` and each of its filters.
fn tables_and_filters(api: &Api, written: &Written, files: u64) {
    let all = api.get_json("/api/v1/tables");
    let names: BTreeSet<String> = written.tables.iter().map(ToString::to_string).collect();
    assert_eq!(listed(&all), names, "{all}");
    assert_eq!(all["errors"], json!([]), "{all}");
    assert!(all["generated_at"].is_string(), "{all}");
    for id in &written.tables {
        let entry = status_entry(&all, id);
        assert_eq!(entry["state"]["data_files"], files, "{id}: {entry}");
        assert_eq!(entry["state"]["snapshots"], DATA.hours, "{id}: {entry}");
        let health = &entry["health"];
        assert!(health["score"].is_u64() && health["healthy"].is_boolean(), "{entry}");
        let jobs: Vec<&str> =
            entry["jobs"].as_array().unwrap().iter().map(|j| j["job"].as_str().unwrap()).collect();
        assert_eq!(jobs, ["compaction", "retention", "orphan_cleanup"], "{entry}");
    }
    let only = |query: &str| listed(&api.get_json(&format!("/api/v1/tables?{query}")));
    let set = |names: &[&str]| names.iter().map(ToString::to_string).collect::<BTreeSet<_>>();
    assert_eq!(only("tenant=globex"), set(&["globex.prod.logs", "globex.prod.traces"]));
    assert_eq!(only("dataset=prod"), names);
    assert_eq!(only("dataset=staging"), BTreeSet::new());
    assert_eq!(only("signal=traces"), set(&["acme.prod.traces", "globex.prod.traces"]));
    assert_eq!(only("tenant=acme&signal=logs"), set(&["acme.prod.logs"]));
    // Every table is healthy or not, never both.
    let healthy = api.get_json("/api/v1/tables?health=healthy");
    let unhealthy = api.get_json("/api/v1/tables?health=unhealthy");
    for (doc, wanted) in [(&healthy, true), (&unhealthy, false)] {
        for table in doc["tables"].as_array().unwrap() {
            assert_eq!(table["health"]["healthy"], wanted, "{table}");
        }
    }
    let (healthy, unhealthy) = (listed(&healthy), listed(&unhealthy));
    assert!(healthy.is_disjoint(&unhealthy), "{healthy:?} {unhealthy:?}");
    assert_eq!(healthy.union(&unhealthy).cloned().collect::<BTreeSet<_>>(), names);
}

/// `GET /tables/{..}`: the status of the table and one partition per hour written.
fn detail_matches_what_was_written(api: &Api, written: &Written, id: &TableId) {
    let detail = api.get_json(&table_path(id));
    let status = &detail["status"];
    assert_eq!((&status["tenant"], &status["table"]), (&json!("acme"), &json!("traces")));
    let partitions = detail["partitions"].as_array().unwrap();
    let labels: Vec<&str> = partitions.iter().map(|p| p["partition"].as_str().unwrap()).collect();
    assert_eq!(labels, written.hours, "{detail}");
    let mut bytes = 0;
    for p in partitions {
        assert_eq!(p["files"], DATA.files_per_hour, "{p}");
        assert_eq!(p["small_files"], DATA.files_per_hour, "{p}");
        assert_eq!((&p["delete_files"], &p["delete_rows"]), (&json!(0), &json!(0)), "{p}");
        assert_eq!((&p["planned_files"], &p["planned_bytes"]), (&Value::Null, &Value::Null));
        assert!(p["hour"].is_i64(), "{p}");
        bytes += p["bytes"].as_u64().unwrap();
    }
    assert_eq!(bytes, status["state"]["data_bytes"].as_u64().unwrap(), "{detail}");
    let jobs: Vec<(&str, usize)> = detail["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["job"].as_str().unwrap(), j["runs"].as_array().unwrap().len()))
        .collect();
    assert_eq!(jobs, [("compaction", 0), ("retention", 0), ("orphan_cleanup", 0)], "{detail}");
    assert_eq!(detail["requested_runs"], json!([]), "{detail}");
}

/// `GET /tables/{..}/plan`: the compaction and retention reports, each partition planned into
/// one file; `?job=` narrows it to one report.
fn plan_of(api: &Api, id: &TableId, hours: usize) {
    let plan = api.get_json(&format!("{}/plan", table_path(id)));
    let reports = plan["reports"].as_array().unwrap();
    let jobs: Vec<&str> = reports.iter().map(|r| r["job"].as_str().unwrap()).collect();
    assert_eq!(jobs, ["compaction", "retention"], "{plan}");
    for report in reports {
        assert_eq!(report["dry_run"], true, "{report}");
        let tables = report["tables"].as_array().unwrap();
        assert_eq!(tables.len(), 1, "{report}");
        assert_eq!(tables[0]["error"], Value::Null, "{report}");
    }
    let compaction = &reports[0]["tables"][0]["details"];
    let candidates = compaction["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), hours, "{compaction}");
    for c in candidates {
        assert_eq!((&c["files_before"], &c["files_after"]), (&json!(3), &json!(1)), "{c}");
    }
    let summary = reports[0]["tables"][0]["summary"].as_str().unwrap();
    assert!(summary.starts_with("would compact"), "{summary}");
    let retention = &reports[1]["tables"][0];
    assert!(retention["summary"].is_string(), "{retention}");
    for p in plan["partitions"].as_array().unwrap() {
        assert_eq!(p["planned_files"], 1, "{p}");
        let (before, after) = (p["bytes"].as_u64().unwrap(), p["planned_bytes"].as_u64().unwrap());
        assert!(after > 0 && after < 2 * before, "planned {after} bytes of {before}: {p}");
    }
    for job in ["compaction", "retention", "orphan_cleanup"] {
        let one = api.get_json(&format!("{}/plan?job={job}", table_path(id)));
        let jobs: Vec<&str> =
            one["reports"].as_array().unwrap().iter().map(|r| r["job"].as_str().unwrap()).collect();
        assert_eq!(jobs, [job], "{one}");
    }
}

/// `GET /leases` when nothing runs: this instance, holding nothing.
fn leases_when_idle(api: &Api) {
    let leases = api.get_json("/api/v1/leases");
    let instance = leases["instance"].as_str().unwrap();
    assert!(!instance.is_empty(), "{leases}");
    assert!(leases["read_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().is_ok());
    assert_eq!(leases["instances"], json!([{"instance": instance, "this": true, "leases": 0}]));
    assert_eq!(leases["leases"], json!([]), "{leases}");
}

/// `POST /compact` on `id`: `202`, the run followed to `succeeded`, one file per hour after it
/// (the API's detail, `compactor status --json`, the catalog), the run in the history.
async fn compaction_commits(env: &TestEnv, api: &Api, id: &TableId, written: &Written, files: u64) {
    let before = table_version(env, id).await;
    let run = api.start_run(id, "compact", None);
    assert_eq!((&run["job"], &run["dry_run"]), (&json!("compaction"), &json!(false)), "{run}");
    assert!(matches!(run["state"].as_str(), Some("running" | "succeeded")), "{run}");
    let run_id = run["id"].as_str().unwrap();
    let run = api.wait_run(run_id, RUN_TIMEOUT);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!((&run["error"], &run["pass_errors"]), (&Value::Null, &json!([])), "{run}");
    let hours = written.hours.len() as u64;
    let execution = &run["report"]["details"]["execution"];
    assert_eq!(execution["groups_committed"], hours, "{run}");
    assert_eq!(execution["files_removed"], files, "{run}");
    assert!(run["summary"].as_str().unwrap().starts_with("compacted"), "{run}");

    let detail = api.get_json(&table_path(id));
    assert_eq!(detail["status"]["state"]["data_files"], hours, "{detail}");
    for p in detail["partitions"].as_array().unwrap() {
        assert_eq!(p["files"], 1, "{p}");
    }
    let requested = detail["requested_runs"].as_array().unwrap();
    assert_eq!(requested.len(), 1, "{detail}");
    assert_eq!(
        (&requested[0]["id"], &requested[0]["state"]),
        (&json!(run_id), &json!("succeeded"))
    );
    let compactions = &detail["runs"][0];
    assert_eq!(compactions["job"], "compaction", "{detail}");
    assert_eq!(compactions["runs"][0]["outcome"], "success", "{detail}");
    assert_eq!(compactions["runs"][0]["changes"]["files_removed"], files, "{detail}");

    // A process of its own reads the same from the catalog; the other tables are untouched.
    let status = status_json(env);
    for other in &written.tables {
        let expected = if other == id { hours } else { files };
        assert_eq!(status_entry(&status, other)["state"]["data_files"], expected, "{other}");
    }
    let after = table_version(env, id).await;
    assert_ne!(after.0, before.0, "a new metadata file");
    assert_ne!(after.1, before.1, "a new current snapshot");

    let history = api.get_json("/api/v1/runs?tenant=acme&dataset=prod&table=traces&job=compaction");
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{history}");
    let listed = &runs[0];
    let table = (&listed["tenant"], &listed["dataset"], &listed["table"]);
    assert_eq!(table, (&json!("acme"), &json!("prod"), &json!("traces")), "{history}");
    assert_eq!((&listed["outcome"], &listed["job"]), (&json!("success"), &json!("compaction")));
    let changes = &listed["changes"];
    assert_eq!(
        (&changes["files_removed"], &changes["files_added"]),
        (&json!(files), &json!(hours))
    );
    assert!(history["next"].is_null(), "one page: {history}");
}

/// `POST /compact` with `{"dry_run": true}` on `id`: it reports what it would do and the
/// table keeps its metadata, snapshot and files.
async fn dry_run_changes_nothing(env: &TestEnv, api: &Api, id: &TableId, files: u64) {
    let before = table_version(env, id).await;
    let run = api.start_run(id, "compact", Some(json!({"dry_run": true})));
    assert_eq!(run["dry_run"], true, "{run}");
    let run = api.wait_run(run["id"].as_str().unwrap(), RUN_TIMEOUT);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert!(run["summary"].as_str().unwrap().starts_with("would compact"), "{run}");
    assert!(run["report"]["details"].get("execution").is_none(), "{run}");
    assert_eq!(table_version(env, id).await, before, "a dry run commits nothing");
    let detail = api.get_json(&table_path(id));
    assert_eq!(detail["status"]["state"]["data_files"], files, "{detail}");
    let history = api.get_json("/api/v1/runs?outcome=dry_run&job=compaction");
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{history}");
    assert_eq!((&runs[0]["tenant"], &runs[0]["table"]), (&json!("acme"), &json!("logs")));
}

/// `GET /runs` a page at a time: one run per page, each exactly once, in the order of the
/// whole listing; filters narrow it.
fn run_history_pages(api: &Api) {
    let whole = api.get_json("/api/v1/runs?limit=500");
    assert!(whole["next"].is_null(), "{whole}");
    let key = |run: &Value| {
        let field =
            |k: &str| run[k].as_str().unwrap_or_else(|| panic!("no {k}: {run}")).to_string();
        [field("tenant"), field("dataset"), field("table"), field("job"), field("started_at")]
    };
    let all: Vec<[String; 5]> = whole["runs"].as_array().unwrap().iter().map(key).collect();
    assert_eq!(all.len(), 4, "compaction, its dry run, retention, orphan cleanup: {whole}");
    let unique: BTreeSet<&[String; 5]> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "{whole}");
    let mut started: Vec<&String> = all.iter().map(|k| &k[4]).collect();
    started.sort_by(|a, b| b.cmp(a));
    assert_eq!(started, all.iter().map(|k| &k[4]).collect::<Vec<_>>(), "newest first");

    for limit in [1, 3] {
        let mut paged = Vec::new();
        let mut path = format!("/api/v1/runs?limit={limit}");
        loop {
            let page = api.get_json(&path);
            let runs = page["runs"].as_array().unwrap();
            assert!(!runs.is_empty() && runs.len() <= limit, "{page}");
            paged.extend(runs.iter().map(key));
            match page["next"].as_str() {
                Some(next) => {
                    assert!(paged.len() < all.len(), "a next page after the last run: {page}");
                    path = format!("/api/v1/runs?limit={limit}&cursor={next}");
                }
                None => break,
            }
        }
        assert_eq!(paged, all, "pages of {limit}");
    }
    let retention = api.get_json("/api/v1/runs?job=retention");
    let jobs: Vec<&Value> =
        retention["runs"].as_array().unwrap().iter().map(|r| &r["job"]).collect();
    assert_eq!(jobs, [&json!("retention")], "{retention}");
    let globex = api.get_json("/api/v1/runs?tenant=globex&limit=10");
    let tenants: BTreeSet<&str> =
        globex["runs"].as_array().unwrap().iter().map(|r| r["tenant"].as_str().unwrap()).collect();
    assert_eq!(tenants, BTreeSet::from(["globex"]), "{globex}");
    assert_eq!(globex["runs"].as_array().unwrap().len(), 2, "{globex}");
    let nothing = api.get_json("/api/v1/runs?dataset=staging");
    assert_eq!((&nothing["runs"], &nothing["next"]), (&json!([]), &Value::Null));
}
