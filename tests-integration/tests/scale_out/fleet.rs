//! Three daemons and a continuous writer on twelve tables: every table compacted once, no
//! group thrown away because of another compactor, never two instances on one table at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::{Backend, BinCommand, BinOutput, TestEnv, hours_ending_at, require_python};

use super::*;

const TENANTS: [&str; 4] = ["t0", "t1", "t2", "t3"];
const HOURS: u64 = 4;
const FILES: u64 = 6;
const ROWS: u64 = 100;

/// Settings of every daemon of the fleet: short passes and leases, so the test sees many.
const FLEET: &[(&str, &str)] = &[
    ("METRICS_PORT", "0"),
    ("COMPACTION_INTERVAL_SECS", "2"),
    ("MIN_INPUT_FILES", "2"),
    ("LEASE_TTL_SECS", "6"),
    ("LEASE_RENEW_INTERVAL_SECS", "1"),
];

#[tokio::test]
async fn three_daemons_share_twelve_tables_with_a_writer_on_sqlite() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    three_daemons_share_the_tables(&env).await;
}

#[tokio::test]
async fn three_daemons_share_twelve_tables_with_a_writer_on_postgres_and_s3() {
    let Some(env) = TestEnv::new(Backend::PostgresS3).await else { return };
    three_daemons_share_the_tables(&env).await;
}

async fn three_daemons_share_the_tables(env: &TestEnv) {
    let Some(_python) = require_python() else { return };
    let ids = load(env, &TENANTS, HOURS, FILES, ROWS);
    let hours = hours_ending_at(END_TIME.parse().unwrap(), HOURS as i64);
    let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let before = read_by_hour(env, &keys);

    let writer = BinCommand::new(LOADGEN)
        .config_flag(env)
        .args(["--tenants", &TENANTS.join(","), "--datasets", "prod"])
        .args(["--signals", "traces,logs,metrics", "--hours", "1", "--files-per-hour", "1"])
        .args(["--rows-per-file", "10", "--seed", "5", "--continuous", "--interval-ms", "2000"])
        .args(["--json"])
        .test_env(env)
        .spawn();
    let mut daemons: Vec<_> = (0..3).map(|_| compactor(env, FLEET).args(["run"]).spawn()).collect();
    wait_compacted(env, &ids, &hours, Duration::from_secs(180), &mut daemons).await;
    // A few more passes of every instance over tables with nothing left to do.
    tokio::time::sleep(Duration::from_secs(4)).await;
    writer.terminate();
    let written = writer.wait_timeout(Duration::from_secs(30));
    written.assert_success();
    let logs: Vec<BinOutput> = daemons
        .into_iter()
        .map(|d| {
            d.terminate();
            let out = d.wait_timeout(Duration::from_secs(30));
            out.assert_success();
            out
        })
        .collect();

    // Each instance named itself and put its id on its passes' lines; none threw a group away
    // because another instance had rewritten its inputs.
    let mut instances = BTreeSet::new();
    for out in &logs {
        let id = out
            .stderr
            .split("Compactor instance ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no instance id logged\n{}", out.stderr));
        assert!(out.stderr.contains(&format!("instance={id}")), "{}", out.stderr);
        // Conflicts with the writer are retried; a group whose inputs another commit removed
        // is what one compactor redoing another's work looks like.
        let redone = out.stderr.lines().filter(|l| {
            l.contains("Abandoned compaction group") && l.contains("removed by another commit")
        });
        assert_eq!(redone.count(), 0, "{}", out.stderr);
        instances.insert(id.to_string());
    }
    assert_eq!(instances.len(), 3, "{instances:?}");

    // Every input file was rewritten exactly once, by some instance, one at a time per table.
    let mut removed = 0;
    let mut by_instance: BTreeMap<String, u64> = BTreeMap::new();
    for id in &ids {
        let runs = history(env, id).await;
        assert_one_at_a_time(id, &runs);
        assert!(runs.iter().all(|r| instances.contains(&r.instance)), "{id}: {runs:?}");
        for r in runs.iter().filter(|r| r.changes.files_removed > 0) {
            removed += r.changes.files_removed;
            *by_instance.entry(r.instance.clone()).or_default() += 1;
        }
    }
    let inputs = ids.len() as u64 * HOURS * FILES;
    assert_eq!(removed, inputs, "rewrites per input file must be 1.00: {by_instance:?}");
    eprintln!("tables compacted per instance: {by_instance:?}");
    assert!(by_instance.len() >= 2, "the work was not shared: {by_instance:?}");
    assert_eq!(holders(env).await, [], "every lease was released on SIGTERM");

    // The back-dated hours hold exactly the rows they held; the writer's rows all landed.
    let after = read_by_hour(env, &keys);
    let mut current_rows = 0;
    for key in &keys {
        let (b, a) = (&before[key], &after[key]);
        for hour in &hours {
            assert_eq!(a.content[hour], b.content[hour], "{key} {hour}");
            assert_eq!(a.files_of(hour).len(), 1, "{key} {hour}");
        }
        current_rows += a.total_rows() - b.total_rows();
    }
    assert_eq!(current_rows, written.json()["total_rows"].as_u64().unwrap(), "{}", written.stdout);
}
