//! `compactor compact | retention | orphans` and `compactor run --once`: one pass, a report,
//! an exit code. With `--json`, standard output is one JSON document and nothing else.

use serde_json::Value;
use tests_integration::{Backend, BinOutput, TestEnv};

use super::{COMPACTOR, command, count_log, loadgen};

/// Runs `compactor args…` against `env` with extra environment variables.
fn compactor(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> BinOutput {
    vars.iter().fold(command(COMPACTOR, env).args(args), |cmd, (k, v)| cmd.env(k, v)).run()
}

/// The `--json` document of a successful run, after checking that stdout holds nothing else.
#[track_caller]
fn json_doc(out: &BinOutput) -> Value {
    out.assert_success();
    assert!(out.stdout.starts_with('{'), "stdout is not only JSON\n{}", out.streams());
    let doc = out.json();
    assert_eq!(doc["failures"], 0, "{doc}");
    assert!(count_log(&out.stderr, "pass") > 0, "logs belong on stderr\n{}", out.streams());
    doc
}

/// `(job, dry_run)` of each report, in order.
fn jobs(doc: &Value) -> Vec<(String, bool)> {
    doc["reports"]
        .as_array()
        .unwrap_or_else(|| panic!("no reports: {doc}"))
        .iter()
        .map(|r| (r["job"].as_str().unwrap().to_string(), r["dry_run"].as_bool().unwrap()))
        .collect()
}

/// `tenant.dataset.table` of each table of a report, in order.
fn table_names(report: &Value) -> Vec<String> {
    report["tables"]
        .as_array()
        .unwrap_or_else(|| panic!("no tables: {report}"))
        .iter()
        .map(|t| {
            let name = |k: &str| t[k].as_str().unwrap_or_else(|| panic!("{k} in {t}")).to_string();
            format!("{}.{}.{}", name("tenant"), name("dataset"), name("table"))
        })
        .collect()
}

fn job(name: &str, dry_run: bool) -> (String, bool) {
    (name.to_string(), dry_run)
}

#[tokio::test]
async fn one_shot_commands_report_json_and_text() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let ids = loadgen(&env, &["acme", "other"]);
    let all: Vec<String> = ids.iter().map(ToString::to_string).collect();

    let doc = json_doc(&compactor(&env, &["compact", "--json"], &[]));
    assert_eq!(jobs(&doc), [job("compaction", false)]);
    let report = &doc["reports"][0];
    assert_eq!(table_names(report), all, "every table, sorted");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert!(report["duration_secs"].as_f64().is_some_and(|d| d >= 0.0), "{report}");
    let started = report["started_at"].as_str().unwrap_or_default();
    assert!(chrono::DateTime::parse_from_rfc3339(started).is_ok(), "started_at {started}");
    // What a job reports per table is its own business; every entry has the same shape.
    for table in report["tables"].as_array().unwrap() {
        assert_eq!(table["error"], Value::Null, "{table}");
        assert!(table["summary"].as_str().is_some_and(|s| !s.is_empty()), "{table}");
        assert!(table.get("details").is_some(), "{table}");
    }

    // Retention is disabled in the config (the default), and still runs when asked to.
    let doc = json_doc(&compactor(&env, &["retention", "--dry-run", "--json"], &[]));
    assert_eq!(jobs(&doc), [job("retention", true)]);
    assert_eq!(table_names(&doc["reports"][0]), all);

    let out = compactor(&env, &["orphans", "--tenant", "acme", "--signal", "logs", "--json"], &[]);
    let doc = json_doc(&out);
    assert_eq!(jobs(&doc), [job("orphan_cleanup", false)]);
    assert_eq!(table_names(&doc["reports"][0]), ["acme.prod.logs"]);

    let args = ["compact", "--tenant", "other", "--dataset", "prod", "--json"];
    let doc = json_doc(&compactor(&env, &args, &[]));
    assert_eq!(table_names(&doc["reports"][0]), all[3..], "only tenant other");
    let doc = json_doc(&compactor(&env, &["compact", "--dataset", "dev", "--json"], &[]));
    assert_eq!(table_names(&doc["reports"][0]), Vec::<String>::new(), "no dataset dev");

    // Without --json: a short summary per job and per table on stdout.
    let out = compactor(&env, &["compact"], &[]);
    out.assert_success();
    let header = out.stdout.lines().next().unwrap_or_default();
    assert!(header.starts_with("compaction: 6 table(s), 0 failure(s)"), "{}", out.streams());
    for id in &all {
        let line = format!("\n  {id}: ");
        assert!(out.stdout.contains(&line), "no `{line}`\n{}", out.streams());
    }
    assert!(!out.stdout.contains("failed"), "{}", out.streams());
    let out = compactor(&env, &["retention", "--dry-run", "--tenant", "acme"], &[]);
    out.assert_success();
    assert!(out.stdout.starts_with("retention [DRY-RUN]: 3 table(s)"), "{}", out.streams());
}

#[tokio::test]
async fn dry_run_comes_from_the_flag_or_the_config() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    loadgen(&env, &["acme"]);

    let doc = json_doc(&compactor(&env, &["compact", "--json"], &[]));
    assert_eq!(jobs(&doc), [job("compaction", false)]);
    let dry = [("SIGNALDB_COMPACTOR_DRY_RUN", "true")];
    let doc = json_doc(&compactor(&env, &["compact", "--json"], &dry));
    assert_eq!(jobs(&doc), [job("compaction", true)], "dry_run from the environment");

    env.append_config("[compactor.orphan_cleanup]\ndry_run = true");
    let doc = json_doc(&compactor(&env, &["orphans", "--json"], &[]));
    assert_eq!(jobs(&doc), [job("orphan_cleanup", true)], "dry_run from signaldb.toml");
    let doc = json_doc(&compactor(&env, &["retention", "--json"], &[]));
    assert_eq!(jobs(&doc), [job("retention", false)], "another section's dry_run");
}

#[tokio::test]
async fn run_once_runs_the_enabled_jobs_in_lifecycle_order() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let ids = loadgen(&env, &["acme"]);
    let all: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let run_once = ["run", "--once", "--json"];
    let retention_on = ("SIGNALDB_COMPACTOR_RETENTION_ENABLED", "true");
    let orphans_on = ("SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_ENABLED", "true");
    let compaction_off = ("SIGNALDB_COMPACTOR_ENABLED", "false");

    // Defaults: only compaction is enabled.
    let out = compactor(&env, &run_once, &[]);
    assert_eq!(jobs(&json_doc(&out)), [job("compaction", false)]);
    assert_eq!(count_log(&out.stderr, "serving /metrics"), 0, "--once starts no daemon");

    let doc = json_doc(&compactor(&env, &run_once, &[retention_on, orphans_on]));
    let expected =
        [job("compaction", false), job("retention", false), job("orphan_cleanup", false)];
    assert_eq!(jobs(&doc), expected);
    for report in doc["reports"].as_array().unwrap() {
        assert_eq!(table_names(report), all, "{report}");
    }

    let doc = json_doc(&compactor(&env, &run_once, &[compaction_off, orphans_on]));
    assert_eq!(jobs(&doc), [job("orphan_cleanup", false)]);

    let out = compactor(&env, &["run", "--once"], &[retention_on, orphans_on]);
    out.assert_success();
    let headers: Vec<&str> = out.stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(headers.len(), 3, "{}", out.stdout);
    for (line, job) in headers.iter().zip(["compaction:", "retention:", "orphan_cleanup:"]) {
        assert!(line.starts_with(job), "{line} is not {job}\n{}", out.stdout);
    }

    // Nothing enabled: nothing to do, and that is a success.
    let out = compactor(&env, &run_once, &[compaction_off]);
    out.assert_success();
    let nothing = serde_json::json!({ "storage_retries": {}, "catalog_errors": {} });
    let expected = serde_json::json!({ "reports": [], "failures": 0, "dependencies": nothing });
    assert_eq!(out.json(), expected);
    let out = compactor(&env, &["run", "--once"], &[compaction_off]);
    out.assert_success();
    assert!(out.stdout.contains("no job is enabled"), "{}", out.streams());
}

/// Usage errors and a refused configuration exit 2 without running anything.
#[tokio::test]
async fn usage_and_config_errors_exit_2() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    for args in [
        &["compact", "--signal", "spans"][..],
        &["orphans", "--tenant", "Acme"],
        &["run", "--json"],
        &["retention", "--bogus"],
    ] {
        let out = compactor(&env, args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", out.streams());
        assert!(out.stdout.is_empty(), "{args:?}\n{}", out.streams());
    }
    env.append_config("[compactor.retention]\nretention_days = 3");
    let out = compactor(&env, &["retention", "--json"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", out.streams());
    assert!(out.stdout.is_empty(), "{}", out.streams());
    assert!(out.stderr.contains("retention_days"), "{}", out.streams());
    assert_eq!(count_log(&out.stderr, "Starting retention pass"), 0, "{}", out.streams());
}
