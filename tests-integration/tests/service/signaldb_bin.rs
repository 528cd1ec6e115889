//! `signaldb`, the monolithic binary: it names its components and runs the compactor embedded,
//! with the same endpoint, metrics and shutdown as `compactor run`.

use std::time::Duration;

use tests_integration::{Backend, TestEnv};

use super::{
    COMPACTOR, Daemon, FILES_PER_TABLE, SIGNALDB, assert_spec_families, command, count_log, cycles,
    loadgen, table_value,
};

#[tokio::test]
async fn signaldb_help_names_its_components() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let out = command(SIGNALDB, &env).args(["--help"]).run();
    out.assert_success();
    let help = out.stdout.to_lowercase();
    for needle in ["compactor", "--config", "--log-format", "sigterm"] {
        assert!(
            help.contains(needle),
            "`signaldb --help` does not mention {needle}\n{}",
            out.stdout
        );
    }
}

#[tokio::test]
async fn signaldb_runs_the_embedded_compactor() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let tables = loadgen(&env, &["acme"]);
    env.append_config("[compactor]\ncompaction_interval_secs = 1");

    let mut daemon = Daemon::start(|| command(SIGNALDB, &env));
    let metrics = daemon.scrape_until("two compaction cycles", Duration::from_secs(20), |m| {
        cycles(m, "compaction", "success") >= 2.0
    });
    assert_spec_families(&metrics, &tables, &["compaction"]);
    for id in &tables {
        let files = table_value(&metrics, "compactor_table_data_files", id);
        assert_eq!(files, Some(FILES_PER_TABLE as f64), "data files of {id}");
    }
    assert_eq!(daemon.get("/healthz").status, 200);
    assert_eq!(daemon.get("/readyz").status, 200);
    let embedded: Vec<&str> = metrics.names().collect();
    let out = daemon.stop();
    for message in ["Starting SignalDB", "Compactor stopped", "SignalDB stopped"] {
        assert_eq!(count_log(&out.stderr, message), 1, "{message}\n{}", out.streams());
    }
    assert!(!out.stderr.contains("ERROR"), "{}", out.streams());

    // The standalone compactor on the same config exports the same families.
    let mut daemon = Daemon::start(|| command(COMPACTOR, &env).args(["run"]));
    let standalone = daemon.scrape_until("a compaction cycle", Duration::from_secs(20), |m| {
        cycles(m, "compaction", "success") >= 1.0
    });
    assert_eq!(standalone.names().collect::<Vec<_>>(), embedded);
    daemon.stop();
}
