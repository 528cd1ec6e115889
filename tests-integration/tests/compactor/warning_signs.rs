//! The warning signs on a real warehouse: each is provoked, seen in `compactor status` and in a
//! daemon's `/metrics` (`compactor_warnings`), and cleared by fixing what it names.

use std::collections::BTreeSet;
use std::time::Duration;

use common::TableKind;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::Value;
use tests_integration::metrics_text::Exposition;
use tests_integration::{Backend, BinCommand, TestEnv};

use super::{COMPACTOR, Load, compactor};
use crate::service::{Daemon, cycles};

/// The checks `status` reports with the environment `vars`: the table's (of the only table)
/// and the configuration's.
fn status_checks(env: &TestEnv, vars: &[(&str, &str)]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut command = BinCommand::new(COMPACTOR).args(["status", "--json"]).test_env(env);
    for (k, v) in vars {
        command = command.env(k, v);
    }
    let doc = command.run().json();
    let names = |list: &Value| -> BTreeSet<String> {
        list.as_array().unwrap().iter().map(|w| w["check"].as_str().unwrap().to_string()).collect()
    };
    let tables = doc["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "{doc}");
    (names(&tables[0]["warnings"]), names(&doc["config_warnings"]))
}

/// Runs a daemon until, after its first successful compaction pass (and retention pass, with
/// `retention`), `compactor_warnings` shows exactly `table` firing for the `logs` table and
/// `config` for the configuration (series with an empty table); fails after 60 s otherwise.
/// `vars` are set in the daemon's environment.
fn expect_metrics(
    env: &TestEnv,
    vars: &[(&str, &str)],
    retention: bool,
    table: &BTreeSet<String>,
    config: &BTreeSet<String>,
) {
    let mut daemon = Daemon::start(|| {
        let mut command =
            BinCommand::new(COMPACTOR).args(["run"]).test_env(env).env("RUST_LOG", "info");
        for (k, v) in vars {
            command = command.env(k, v);
        }
        command
    });
    let firing = |m: &Exposition, name: &str| -> BTreeSet<String> {
        let Some(family) = m.family("compactor_warnings") else { return BTreeSet::new() };
        family
            .series
            .iter()
            .filter(|s| s.labels.get("table").map(String::as_str) == Some(name) && s.value == 1.0)
            .map(|s| s.labels["check"].clone())
            .collect()
    };
    let done = |m: &Exposition| {
        cycles(m, "compaction", "success") >= 1.0
            && (!retention || cycles(m, "retention", "success") >= 1.0)
            && firing(m, "logs") == *table
            && firing(m, "") == *config
    };
    let what =
        format!("compactor_warnings firing {table:?} for logs and {config:?} for the config");
    daemon.scrape_until(&what, Duration::from_secs(60), done);
    daemon.stop();
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[tokio::test]
async fn metadata_and_configuration_signs_fire_and_clear_on_sqlite_local() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    // 101 old hours of one file each: nothing to compact, every hour past retention, one
    // snapshot and one manifest per hour.
    Load { signals: &[TableKind::Logs], hours: 101, files_per_hour: 1, rows_per_file: 5 }.run(&env);
    env.append_config("[compactor]\ncompaction_interval_secs = 1\nmanifest_merge_min_count = 0");
    let table =
        set(&["storage_grows_despite_retention", "snapshots_unbounded", "manifests_unbounded"]);
    assert_eq!(status_checks(&env, &[]), (table.clone(), set(&[])));
    expect_metrics(&env, &[], false, &table, &set(&[]));

    // Retention on, orphan cleanup still off, a grace period of 4 days for 3-day logs and
    // compaction every 5 days: the table signs clear (retention drops the old hours and
    // expires snapshots), the configuration signs fire instead.
    env.append_config("[compactor.retention]\nenabled = true\nretention_check_interval_secs = 1");
    let unwise = [
        ("SIGNALDB_COMPACTOR_RETENTION_GRACE_PERIOD_HOURS", "96"),
        ("SIGNALDB_COMPACTOR_COMPACTION_INTERVAL_SECS", "432000"),
    ];
    let config = set(&[
        "orphan_cleanup_disabled",
        "compaction_interval_exceeds_retention",
        "grace_exceeds_retention",
    ]);
    assert_eq!(status_checks(&env, &unwise).1, config);
    let mut check = BinCommand::new(COMPACTOR).args(["check-config"]).test_env(&env);
    for (k, v) in unwise {
        check = check.env(k, v);
    }
    let check = check.run();
    for name in &config {
        assert!(check.stderr.contains(&format!("warning: {name}: ")), "{}", check.stderr);
    }
    expect_metrics(&env, &unwise, true, &set(&[]), &config);
    assert_eq!(status_checks(&env, &unwise), (set(&[]), config));

    // Orphan cleanup on and the defaults for the rest: nothing fires.
    env.append_config("[compactor.orphan_cleanup]\nenabled = true");
    assert_eq!(status_checks(&env, &[]), (set(&[]), set(&[])));
    expect_metrics(&env, &[], true, &set(&[]), &set(&[]));
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_a_sign_until_it_succeeds_on_sqlite_local() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    // Recent, quiet hours: within retention, so only the failing job can be a sign.
    let end = (chrono::Utc::now() - chrono::Duration::hours(4)).to_rfc3339();
    let load = Load { signals: &[TableKind::Logs], hours: 2, files_per_hour: 3, rows_per_file: 20 };
    load.run_ending_at(&env, &end, 5);
    env.append_config(
        "[compactor]\ncompaction_interval_secs = 1\nmin_input_files = 2\n\
         [compactor.retention]\nenabled = true\n[compactor.orphan_cleanup]\nenabled = true",
    );
    // An unreadable input fails its group, so the pass fails on the table.
    let plan = compactor(&env, &["plan", "--json"]).json();
    let victim = plan["reports"][0]["tables"][0]["details"]["candidates"][0]["groups"][0]["files"]
        [0]
    .as_str()
    .unwrap_or_else(|| panic!("no candidate in {plan}"))
    .to_string();
    let warehouse = env.warehouse();
    let path = warehouse.object_path(&victim).unwrap();
    let store = warehouse.object_store();
    let original = store.get(&path).await.unwrap().bytes().await.unwrap();
    store.put(&path, PutPayload::from(vec![0x5a; original.len()])).await.unwrap();
    let failed = compactor(&env, &["compact"]);
    assert_eq!(failed.status.code(), Some(1), "{}", failed.streams());
    let sign = set(&["job_not_succeeding"]);
    assert_eq!(status_checks(&env, &[]), (sign.clone(), set(&[])));
    let out = compactor(&env, &["status"]);
    assert!(
        out.stdout.contains("warning job_not_succeeding: compaction has not succeeded"),
        "{}",
        out.stdout
    );

    // Repaired, the next pass succeeds and the sign clears, in status and in /metrics.
    store.put(&path, PutPayload::from(original)).await.unwrap();
    expect_metrics(&env, &[], false, &set(&[]), &set(&[]));
    assert_eq!(status_checks(&env, &[]), (set(&[]), set(&[])));
}
