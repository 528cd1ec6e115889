//! Configuration as the real binaries see it: `compactor check-config` shows where each value
//! came from and never a secret; bad configuration is refused before anything runs.

use tests_integration::{Backend, BinCommand, TestEnv};

/// The line of `check-config` output that sets `key` in its current section.
fn line_for<'a>(stdout: &'a str, key: &str, origin: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")) && l.contains(origin))
        .unwrap_or_else(|| panic!("no `{key} = … # {origin}` line in:\n{stdout}"))
}

#[tokio::test]
async fn check_config_reports_origins_and_hides_secrets() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    env.append_config("[storage.s3]\nsecret_access_key = \"hunter2-file-secret\"");

    let out = BinCommand::new("compactor")
        .config_flag(&env)
        .args(["check-config"])
        .env("SIGNALDB_COMPACTOR_RETENTION_TRACES_RETENTION_DAYS", "14")
        .env("SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_GRACE_PERIOD_HOURS", "48")
        .env("SIGNALDB_SCHEMA_CATALOG_URI", "postgres://sdb:hunter2-env-secret@127.0.0.1:1/db")
        .test_env(&env)
        .run();
    out.assert_success();
    let stdout = &out.stdout;
    let config = env.config_path().display().to_string();

    let dsn = line_for(stdout, "dsn", &format!("file {config}:"));
    assert!(dsn.contains(env.warehouse_uri()), "{dsn}");
    assert!(line_for(stdout, "catalog_name", "file").contains("\"signaldb\""));
    let traces = line_for(
        stdout,
        "traces_retention_days",
        "SIGNALDB_COMPACTOR_RETENTION_TRACES_RETENTION_DAYS",
    );
    assert!(traces.starts_with("traces_retention_days = 14"), "{traces}");
    let grace = line_for(
        stdout,
        "grace_period_hours",
        "SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_GRACE_PERIOD_HOURS",
    );
    assert!(grace.starts_with("grace_period_hours = 48"), "{grace}");
    line_for(stdout, "logs_retention_days", "default");
    line_for(stdout, "catalog_uri", "SIGNALDB_SCHEMA_CATALOG_URI");

    for secret in ["hunter2-file-secret", "hunter2-env-secret"] {
        assert!(
            !stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret} leaked\n{}",
            out.streams()
        );
    }
}

#[tokio::test]
async fn bad_config_is_refused_before_anything_runs() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    env.append_config("[compactor]\ncompaction_interval_sec = 5");
    let config = env.config_path().display().to_string();

    let out =
        BinCommand::new("compactor").config_flag(&env).args(["check-config"]).test_env(&env).run();
    out.assert_failure();
    for needle in ["compaction_interval_sec", config.as_str(), "line", "compaction_interval_secs"] {
        assert!(out.stderr.contains(needle), "stderr lacks `{needle}`\n{}", out.streams());
    }

    let out = BinCommand::new("signaldb-loadgen")
        .config_flag(&env)
        .args(["--tenants", "acme", "--datasets", "prod", "--signals", "logs", "--hours", "1"])
        .args(["--files-per-hour", "1", "--rows-per-file", "1", "--seed", "1", "--json"])
        .test_env(&env)
        .run();
    out.assert_failure();
    assert!(out.stderr.contains("compaction_interval_sec"), "{}", out.streams());
    // Nothing was created: no catalog database, no warehouse directory.
    assert!(!env.dir().join("catalog.db").exists(), "catalog created despite bad config");
    assert!(!env.dir().join("warehouse").exists(), "warehouse created despite bad config");
}
