//! `signaldb-loadgen --continuous` keeps appending to the current hour and stops cleanly on
//! SIGTERM with a summary.

use std::time::{Duration, Instant};

use chrono::Utc;
use common::TableKind;
use common::tables::TableId;
use iceberg::Catalog;
use tests_integration::iceberg_read::rows_per_hour;
use tests_integration::{
    Backend, BinCommand, TestEnv, hour_label, require_python, run_pyiceberg_read,
};

#[tokio::test]
async fn loadgen_continuous_appends_until_sigterm() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    let id = TableId::new("acme", "prod", TableKind::Logs).unwrap();

    let hour_before = hour_label(Utc::now().timestamp().div_euclid(3600));
    let child = BinCommand::new("signaldb-loadgen")
        .config_flag(&env)
        .args(["--tenants", "acme", "--datasets", "prod", "--signals", "logs"])
        .args(["--hours", "1", "--files-per-hour", "1", "--rows-per-file", "10", "--seed", "1"])
        .args(["--continuous", "--interval-ms", "200", "--json"])
        .test_env(&env)
        .spawn();

    // Wait until the table has a snapshot (startup includes creating the catalog and table),
    // then let it append for a while.
    let catalog = env.catalog().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = match catalog.catalog().load_table(&id.ident()).await {
            Ok(table) => table.metadata().current_snapshot().is_some(),
            Err(_) => false,
        };
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "loadgen wrote no snapshot within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    child.terminate();
    let out = child.wait_timeout(Duration::from_secs(30));
    out.assert_success();
    let hour_after = hour_label(Utc::now().timestamp().div_euclid(3600));
    let summary = out.json();
    assert!(summary["total_rows"].as_u64().unwrap_or(0) > 0, "summary: {summary}");
    assert!(summary["total_files"].as_u64().unwrap_or(0) > 1, "summary: {summary}");

    // Several appends happened, and they landed in the current hour.
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    assert!(table.metadata().snapshots().count() >= 2, "expected repeated appends");
    let per_hour = rows_per_hour(&table).await.unwrap();
    let current: usize = [&hour_before, &hour_after]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter_map(|h| per_hour.get(h))
        .sum();
    assert!(current > 0, "no rows in the current hour {hour_before}..{hour_after}: {per_hour:?}");
    assert_eq!(
        per_hour.values().sum::<usize>() as u64,
        summary["total_rows"].as_u64().unwrap(),
        "summary vs table rows"
    );

    let py = run_pyiceberg_read(&env, "acme", "prod", "logs");
    assert_eq!(py["total_rows"], summary["total_rows"], "pyiceberg: {py}");
}
