//! The object store goes away while the daemon runs: `/readyz` turns 503 naming the object
//! store (the probe gives up after 10 s instead of waiting out object_store's retries), the
//! process stays up and its passes fail without piling up; once S3 answers again `/readyz`
//! turns 200 and the next pass compacts, with no restart.

use std::time::{Duration, Instant};

use common::TableKind;
use tests_integration::fault_proxy::{Fault, FaultProxy, Rule};
use tests_integration::metrics_text::Exposition;
use tests_integration::{Backend, TestEnv, require_python};

use super::{assert_references_present, rows_by_hour, with_storage_key};
use crate::compactor::Load;
use crate::service::{COMPACTOR, Daemon, command, cycles};

/// Compaction every 2 s of partitions of 3 files or more, nothing else.
const CONFIG: &str = "[compactor]\nmin_input_files = 3\ncompaction_interval_secs = 2\n\
     [compactor.retention]\nenabled = false\n[compactor.orphan_cleanup]\nenabled = false";

/// 1 quiet hour of 4 small files in `traces`.
const LOAD: Load =
    Load { signals: &[TableKind::Traces], hours: 1, files_per_hour: 4, rows_per_file: 50 };

/// Polls `/readyz` until `done(status, body)` holds, failing after `timeout`.
#[track_caller]
fn wait_ready(daemon: &Daemon, what: &str, timeout: Duration, done: impl Fn(u16, &str) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        let ready = daemon.get("/readyz");
        if done(ready.status, &ready.body) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what} within {timeout:?}: {}", ready.body);
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn retries(metrics: &Exposition) -> f64 {
    metrics
        .family("compactor_storage_retries_total")
        .map_or(0.0, |f| f.series.iter().map(|s| s.value).sum())
}

#[tokio::test]
async fn an_object_store_outage_makes_the_daemon_not_ready_until_it_ends() {
    let Some(env) = TestEnv::new(Backend::S3).await else { return };
    let Some(_python) = require_python() else { return };
    with_storage_key(&env, "max_retries", 2);
    env.append_config(CONFIG);
    let ids = LOAD.run(&env);
    let written = rows_by_hour(&env, &ids);
    let proxy = FaultProxy::start(&env.s3().unwrap().endpoint, 3);
    env.set_s3_endpoint(&proxy.endpoint());
    proxy.set_rules(vec![Rule::always(Fault::Status(503))]);

    let started = Instant::now();
    let mut daemon = Daemon::start(|| command(COMPACTOR, &env).args(["run"]));
    wait_ready(&daemon, "object store not ready", Duration::from_secs(40), |status, body| {
        status == 503 && body.contains("\"object_store\":{\"ready\":false")
    });
    assert_eq!(daemon.get("/healthz").status, 200, "an outage is no reason to restart");
    let during = daemon.scrape_until("failed passes", Duration::from_secs(30), |m| {
        cycles(m, "compaction", "failure") >= 2.0
    });
    assert!(retries(&during) > 0.0, "the 503s are counted");
    assert_eq!(cycles(&during, "compaction", "success"), 0.0);

    proxy.set_rules(Vec::new());
    wait_ready(&daemon, "ready again", Duration::from_secs(40), |status, _| status == 200);
    let after = daemon.scrape_until("a pass that compacts", Duration::from_secs(30), |m| {
        m.family("compactor_files_compacted_total")
            .is_some_and(|f| f.series.iter().any(|s| s.value >= 4.0))
    });
    let elapsed = started.elapsed().as_secs_f64();
    daemon.stop();
    // One pass at a time: never more cycles than 2 s ticks fit in the time, however long the
    // failing passes took.
    let ran = cycles(&after, "compaction", "success") + cycles(&after, "compaction", "failure");
    assert!(ran <= elapsed / 2.0 + 1.0, "{ran} cycles in {elapsed:.0} s");

    assert_eq!(rows_by_hour(&env, &ids), written, "every row, exactly once");
    assert_references_present(&env, &ids[0]).await;
}
