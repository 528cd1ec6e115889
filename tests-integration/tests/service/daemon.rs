//! `compactor run`: three schedulers on short intervals, `/metrics` with every spec family,
//! the probes, SIGTERM, disabled jobs and a busy port, on every backend.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use tests_integration::{Backend, TestEnv};

use super::{
    COMPACTOR, Daemon, FILES_PER_TABLE, SNAPSHOTS_PER_TABLE, assert_spec_families, command,
    count_log, cycles, loadgen, table_value,
};

const ALL_JOBS: [&str; 3] = ["compaction", "retention", "orphan_cleanup"];

/// All three schedulers every second or so (orphan cleanup's interval is in hours, so it runs
/// its start-up cycle only).
const ALL_ENABLED: &str = "\
[compactor]
compaction_interval_secs = 1

[compactor.retention]
enabled = true
retention_check_interval_secs = 1

[compactor.orphan_cleanup]
enabled = true
";

async fn daemon_on(backend: Backend, log_format: &str) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let tables = loadgen(&env, &["acme"]);
    env.append_config(ALL_ENABLED);

    let mut daemon =
        Daemon::start(|| command(COMPACTOR, &env).args(["--log-format", log_format, "run"]));
    // Two cycles of the one-second schedulers show they repeat, not just run at start-up.
    let metrics =
        daemon.scrape_until("repeated cycles of every job", Duration::from_secs(20), |m| {
            cycles(m, "compaction", "success") >= 2.0
                && cycles(m, "retention", "success") >= 2.0
                && cycles(m, "orphan_cleanup", "success") >= 1.0
        });
    assert_spec_families(&metrics, &tables, &ALL_JOBS);
    for job in ALL_JOBS {
        assert_eq!(cycles(&metrics, job, "failure"), 0.0, "{job} failed");
        let last = metrics
            .value("compactor_scheduler_last_success_timestamp_seconds", &[("task", job)])
            .unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        assert!((now.as_secs_f64() - last).abs() < 120.0, "{job} last success at {last}");
    }
    for id in &tables {
        let files = table_value(&metrics, "compactor_table_data_files", id);
        assert_eq!(files, Some(FILES_PER_TABLE as f64), "data files of {id}");
        let snapshots = table_value(&metrics, "compactor_table_snapshots", id);
        assert_eq!(snapshots, Some(SNAPSHOTS_PER_TABLE as f64), "snapshots of {id}");
        let bytes = table_value(&metrics, "compactor_table_data_bytes", id).unwrap_or(0.0);
        assert!(bytes > 0.0, "data bytes of {id}: {bytes}");
    }

    let health = daemon.get("/healthz");
    assert_eq!((health.status, health.body.trim()), (200, "ok"), "/healthz");
    let ready = daemon.get("/readyz");
    assert_eq!(ready.status, 200, "/readyz: {}", ready.body);
    assert_eq!(ready.header("content-type"), Some("application/json"));
    let ready = ready.json();
    assert_eq!(ready["ready"], true, "{ready}");
    for component in ["catalog", "object_store"] {
        assert_eq!(ready["components"][component]["state"], "ok", "{ready}");
    }
    assert_eq!(daemon.get("/nothing-here").status, 404);

    let out = daemon.stop();
    assert_eq!(count_log(&out.stderr, "Compactor stopped"), 1, "{}", out.streams());
    assert!(!out.stderr.contains("ERROR"), "errors logged\n{}", out.streams());
    if log_format == "json" {
        for line in out.stderr.lines() {
            let json: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            assert!(json["level"].is_string() && json["target"].is_string(), "{line}");
        }
    }
    assert!(out.stdout.trim().is_empty(), "the daemon printed to stdout: {}", out.stdout);
}

#[tokio::test]
async fn daemon_sqlite_local() {
    daemon_on(Backend::SqliteLocal, "text").await;
}

#[tokio::test]
async fn daemon_postgres_local() {
    daemon_on(Backend::Postgres, "json").await;
}

#[tokio::test]
async fn daemon_sqlite_s3() {
    daemon_on(Backend::S3, "text").await;
}

#[tokio::test]
async fn daemon_postgres_s3() {
    daemon_on(Backend::PostgresS3, "json").await;
}

/// With the defaults only compaction runs; each disabled job says so once, at start-up.
#[tokio::test]
async fn disabled_jobs_are_logged_once_and_never_run() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let tables = loadgen(&env, &["acme"]);
    let mut daemon = Daemon::start(|| {
        command(COMPACTOR, &env).env("SIGNALDB_COMPACTOR_COMPACTION_INTERVAL_SECS", "1")
    });
    let metrics = daemon.scrape_until("three compaction cycles", Duration::from_secs(20), |m| {
        cycles(m, "compaction", "success") >= 3.0
    });
    assert_spec_families(&metrics, &tables, &["compaction"]);
    for job in ["retention", "orphan_cleanup"] {
        let series = metrics.sum("compactor_scheduler_cycles_total", &[("task", job)]);
        assert_eq!(series, 0.0, "{job} ran although disabled");
    }
    let out = daemon.stop();
    assert_eq!(count_log(&out.stderr, "Retention enforcement disabled"), 1, "{}", out.streams());
    assert_eq!(count_log(&out.stderr, "Orphan cleanup disabled"), 1, "{}", out.streams());
    assert_eq!(count_log(&out.stderr, "Compaction disabled"), 0, "{}", out.streams());
    assert_eq!(count_log(&out.stderr, "Starting retention pass"), 0, "{}", out.streams());
    assert_eq!(count_log(&out.stderr, "Starting orphan_cleanup pass"), 0, "{}", out.streams());
    assert!(count_log(&out.stderr, "Starting compaction pass") >= 3, "{}", out.streams());
}

/// Something else listening on the metrics port stops start-up at once, before any job runs,
/// with an error naming the port. The daemon binds 0.0.0.0, which Linux refuses while
/// 127.0.0.1 holds a listener on the same port, so the test only needs loopback.
#[tokio::test]
async fn busy_metrics_port_is_a_clear_startup_error() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    for bin in [COMPACTOR, super::SIGNALDB] {
        let started = Instant::now();
        let out = command(bin, &env)
            .env("SIGNALDB_COMPACTOR_METRICS_PORT", &port)
            .env("RUST_BACKTRACE", "0")
            .timeout(Duration::from_secs(10))
            .run();
        out.assert_failure();
        assert_eq!(out.status.code(), Some(2), "{bin}: nothing ran\n{}", out.streams());
        assert!(started.elapsed() < Duration::from_secs(5), "{bin} took {:?}", started.elapsed());
        let expected = format!("error: metrics port {port} is already in use");
        assert!(out.stderr.contains(&expected), "{bin}: no `{expected}`\n{}", out.streams());
        assert_eq!(count_log(&out.stderr, "Starting compaction pass"), 0, "{}", out.streams());
    }
    drop(listener);
}
