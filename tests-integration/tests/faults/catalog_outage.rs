//! The catalog crashes under a running `compactor run` and comes back: the daemon stays alive
//! and turns not-ready while the catalog is down, its schedulers keep their interval without
//! piling passes up, and once the server is back it is ready again and compacts, without a
//! restart, losing no row and no referenced file.

use std::path::Path;
use std::time::{Duration, Instant};

use common::TableKind;
use compactor::PROBE_INTERVAL;
use tests_integration::metrics_text::Exposition;
use tests_integration::private_pg::PrivatePg;
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::{Backend, TestEnv, require_python};

use super::assert_references_stored;
use crate::compactor::{Load, assert_linear_history, file_name};
use crate::service::{COMPACTOR, Daemon, command, cycles};

/// A pass every second, one group rewritten at a time (so a pass over the load below lasts long
/// enough to be interrupted), partitions of 3 small files compacted.
const CONFIG: &str = "\
[compactor]
compaction_interval_secs = 1
max_concurrent_jobs = 1
min_input_files = 3
";
const INTERVAL: Duration = Duration::from_secs(1);

/// Two tables of 6 quiet hours with 6 small files each: 12 groups for the first pass.
const LOAD: Load = Load {
    signals: &[TableKind::Traces, TableKind::Logs],
    hours: 6,
    files_per_hour: 6,
    rows_per_file: 200,
};

/// How long `/readyz` may take to follow the catalog: its probe runs every
/// [`PROBE_INTERVAL`], and waits up to 10 s for a connection (the pool's acquire timeout,
/// which is how long a pool whose server went away keeps trying to reconnect), plus slack.
const READINESS_WITHIN: Duration = PROBE_INTERVAL.saturating_add(Duration::from_secs(15));

/// The server is killed (`pg_ctl stop -m immediate`) as soon as the daemon's first pass has
/// written a compacted file, i.e. between its rewrites and its commit: `/readyz` turns 503
/// naming the catalog while `/healthz` stays 200; once it is 503 the server is started again on
/// the same port (a failover back within the pools' patience), and `/readyz` is 200 again
/// without a restart of the daemon, a pass started after the restart succeeds, and every hour
/// ends up compacted with exactly the rows written and every referenced file stored. No two
/// passes ever overlap (the log's start and finish lines alternate) and, from the crash until
/// after recovery, passes and skipped ticks together never exceed one per interval.
#[tokio::test]
async fn a_crashed_catalog_makes_the_daemon_unready_until_it_is_back() {
    let Some(_python) = require_python() else { return };
    let Some(mut pg) = PrivatePg::start() else { return };
    let Some(env) = TestEnv::with_postgres_at(Backend::Postgres, &pg.url()).await else { return };
    env.append_config(CONFIG);
    let ids = LOAD.run(&env);
    let before = read_by_hour(&env, &ids);
    let warehouse_dir = env.dir().join("warehouse");

    let mut daemon = Daemon::start(|| command(COMPACTOR, &env).args(["run"]));
    wait_for(&mut daemon, "a compacted file of the first pass", Duration::from_secs(30), || {
        compacted_files(&warehouse_dir) > 0
    });
    pg.stop();
    let crashed = Instant::now();
    let at_crash = daemon.scrape();
    let passes_at_crash = passes(&at_crash);
    // The first pass starts with the daemon: none counted yet means it was cut mid-pass.
    eprintln!(
        "catalog stopped {} the first pass ({passes_at_crash} passes counted)",
        if passes_at_crash == 0.0 { "in the middle of" } else { "after" }
    );

    let ready = wait_for_readyz(&mut daemon, 503, crashed);
    let catalog = &ready["components"]["catalog"];
    assert_eq!(catalog["state"], "failing", "{ready}");
    let error = catalog["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("catalog `signaldb`"), "the error names the catalog: {ready}");
    assert_eq!(ready["components"]["object_store"]["state"], "ok", "{ready}");
    assert_eq!(daemon.get("/healthz").status, 200, "alive while the catalog is down");
    eprintln!("/readyz while the catalog is down: {ready}");
    let successes_down = cycles(&daemon.scrape(), "compaction", "success");

    pg.start_again();
    let restarted = Instant::now();
    wait_for_readyz(&mut daemon, 200, restarted);
    // Two successes since the restart: at least one of them started after it, since passes
    // run one at a time.
    let recovered = daemon.scrape_until("a pass after the restart", Duration::from_secs(30), |m| {
        cycles(m, "compaction", "success") >= successes_down + 2.0
    });
    // No pile-up: at most one tick per interval since the crash, each starting a pass or
    // skipped because one is running; plus the pass in flight at the crash.
    let window = crashed.elapsed();
    let counted = passes(&recovered) - passes_at_crash;
    let skipped = skipped_ticks(&recovered) - skipped_ticks(&at_crash);
    let ticks = (window.as_secs_f64() / INTERVAL.as_secs_f64()).floor() + 1.0;
    assert!(counted <= ticks + 1.0, "{counted} passes in {window:?}: more than one per tick");
    assert!(
        counted + skipped <= ticks + 1.0,
        "{counted} passes and {skipped} skipped ticks in {window:?}"
    );
    eprintln!(
        "outage of {:?}: {counted} passes ({} failed) and {skipped} skipped ticks in {window:?}",
        restarted - crashed,
        cycles(&recovered, "compaction", "failure")
    );
    assert!(daemon.is_running(), "the daemon was never restarted");
    let out = daemon.stop();
    assert_passes_never_overlap(&out.stderr);

    let after = read_by_hour(&env, &ids);
    for id in &ids {
        let key = id.to_string();
        let (b, a) = (&before[&key], &after[&key]);
        assert_eq!(a.read["rows_sha256"], b.read["rows_sha256"], "{key}");
        assert_eq!(a.content, b.content, "{key}: the rows of every hour");
        for hour in LOAD.hour_labels() {
            let files = a.files_of(&hour);
            assert_eq!(files.len(), 1, "{key} {hour} is compacted: {files:?}");
            assert!(files.iter().all(|f| file_name(f).starts_with("compacted-")), "{files:?}");
        }
        assert_eq!(a.snapshots[..b.snapshots.len()], b.snapshots[..], "{key}");
        assert_linear_history(&key, a);
        assert_references_stored(&env, id).await;
    }
}

/// Passes counted so far, successful or not.
fn passes(metrics: &Exposition) -> f64 {
    cycles(metrics, "compaction", "success") + cycles(metrics, "compaction", "failure")
}

/// `compactor_scheduler_skipped_ticks_total{task="compaction"}` (0 when absent).
fn skipped_ticks(metrics: &Exposition) -> f64 {
    metrics
        .value("compactor_scheduler_skipped_ticks_total", &[("task", "compaction")])
        .unwrap_or(0.0)
}

/// Polls `done` until it holds, failing after `timeout` or when the daemon exits.
#[track_caller]
fn wait_for(daemon: &mut Daemon, what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(daemon.is_running(), "the daemon exited while waiting for {what}");
        assert!(Instant::now() < deadline, "no {what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `/readyz` until it answers `status`, within [`READINESS_WITHIN`] of `since`, and
/// returns its document.
#[track_caller]
fn wait_for_readyz(daemon: &mut Daemon, status: u16, since: Instant) -> serde_json::Value {
    loop {
        assert!(daemon.is_running(), "the daemon exited while waiting for /readyz {status}");
        let ready = daemon.get("/readyz");
        if ready.status == status {
            eprintln!("/readyz {status} after {:?}", since.elapsed());
            return ready.json();
        }
        assert!(
            since.elapsed() < READINESS_WITHIN,
            "/readyz is still {} after {:?}: {}",
            ready.status,
            since.elapsed(),
            ready.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many files named `compacted-*` are under `dir`.
fn compacted_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                compacted_files(&path)
            } else {
                usize::from(file_name(&path.to_string_lossy()).starts_with("compacted-"))
            }
        })
        .sum()
}

/// Checks that the daemon's compaction passes ran one at a time: in its log, every
/// `Starting compaction pass` is followed by its `Finished compaction pass` line before the
/// next one starts.
#[track_caller]
fn assert_passes_never_overlap(stderr: &str) {
    let mut running = false;
    let mut started = 0;
    for line in stderr.lines() {
        if line.contains("Starting compaction pass") {
            assert!(!running, "a pass started while another was running:\n{stderr}");
            running = true;
            started += 1;
        } else if line.contains("Finished compaction pass") {
            assert!(running, "a pass finished that had not started:\n{stderr}");
            running = false;
        }
    }
    assert!(started >= 3, "{started} passes logged:\n{stderr}");
}
