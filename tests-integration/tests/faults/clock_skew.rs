//! Clock skew between the writers, the object store and the compactor. Data timestamped hours
//! in the future is never dropped by retention; a compactor whose clock runs behind, or ahead by
//! less than the grace period, never drops a partition before the writers' clock says it is
//! past its retention period, and never deletes an unreferenced file that is younger than the
//! grace period by the store's clock. The compactor runs on a skewed clock through libfaketime
//! (`LD_PRELOAD`, monotonic time left alone); the files' modification times stay the machine's,
//! as an object store's `last_modified` is the store's clock, not the compactor's.
//!
//! Which clock decides what: retention's cutoff is the compactor's `now − period − grace`; an
//! hour partition goes when it ends at or before it. Orphan cleanup's cutoff is the compactor's
//! `now − grace`, compared with the store's `last_modified`. So a compactor `s` hours ahead is
//! safe exactly while `s` ≤ the grace period, and a compactor behind is only late.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use common::tables::TableId;
use iceberg::Catalog;
use serde_json::Value;
use tests_integration::orphans::{exists, local_path, plant, stored};
use tests_integration::pyiceberg_hours::{PyTableByHour, read_by_hour};
use tests_integration::retention::{
    RecentLoad, dropped_labels, hour_of, reported_cutoff, retention_details, split_at,
};
use tests_integration::{
    Backend, BinCommand, BinOutput, TestEnv, hour_label, require_libfaketime, require_python,
};

const COMPACTOR: &str = "compactor";
const HOUR: i64 = 3_600;

/// `compactor args…` against `env` at `info` with the variables `vars`, on a clock `offset`
/// away from the machine's (`-2h`, `+2h`: libfaketime's syntax) through libfaketime at `lib`;
/// monotonic time and the files' times are left as the kernel reports them.
fn compactor_on_clock(
    env: &TestEnv,
    lib: &Path,
    offset: &str,
    args: &[&str],
    vars: &[(&str, &str)],
) -> BinOutput {
    let mut cmd = BinCommand::new(COMPACTOR)
        .args(args)
        .test_env(env)
        .env("RUST_LOG", "info")
        .env("LD_PRELOAD", &lib.display().to_string())
        .env("FAKETIME", offset)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("NO_FAKE_STAT", "1");
    for (key, value) in vars {
        cmd = cmd.env(key, value);
    }
    cmd.run()
}

/// The `--json` document of a run that must succeed with no failure.
#[track_caller]
fn json_ok(out: &BinOutput) -> Value {
    out.assert_success();
    let doc = out.json();
    assert_eq!(doc["failures"], 0, "{doc}\n{}", out.stderr);
    doc
}

/// Checks that the pass of `doc` ran on a clock `skew` seconds from the machine's, which read
/// `before` and `after` around it.
#[track_caller]
fn assert_clock(doc: &Value, skew: i64, before: DateTime<Utc>, after: DateTime<Utc>) {
    let text = doc["reports"][0]["started_at"].as_str().unwrap_or_else(|| panic!("{doc}"));
    let started: DateTime<Utc> = text.parse().unwrap();
    let seen = started.timestamp() - skew;
    assert!(
        before.timestamp() - 2 <= seen && seen <= after.timestamp() + 2,
        "the pass started at {started}, not {skew} s from the machine's clock ({before} .. {after})"
    );
}

/// Checks that every file `ids`' metadata reaches (every snapshot's manifests and live files,
/// the metadata log) is stored.
async fn assert_referenced_files_present(env: &TestEnv, ids: &[TableId]) {
    for id in ids {
        super::assert_references_stored(env, id).await;
    }
}

/// Checks that `after` holds exactly the hours `kept` of `before`, each with the same rows
/// (count and digest) and data files.
#[track_caller]
fn assert_kept_exactly(key: &str, before: &PyTableByHour, after: &PyTableByHour, kept: &[String]) {
    assert_eq!(after.content.keys().cloned().collect::<Vec<_>>(), kept, "{key}");
    for hour in kept {
        assert_eq!(after.content[hour], before.content[hour], "{key} {hour}");
        assert_eq!(after.files_of(hour), before.files_of(hour), "{key} {hour}");
    }
}

/// Hours from 29 before the current one to 3 after it (three hours of the future) in acme/prod
/// traces and logs; retention is 1 day for both.
fn future_load() -> RecentLoad {
    RecentLoad {
        tenants: vec!["acme"],
        datasets: vec!["prod"],
        signals: vec!["traces", "logs"],
        newest_ago: -3,
        oldest_ago: 29,
        rows_per_file: 20,
    }
}

/// Retention on data reaching three hours into the future, by a compactor 2 h behind, on time,
/// and 2 h ahead with 2 h of grace: each pass drops exactly the hours that end at or before its
/// reported cutoff, never one the writers' clock still holds within the 1-day period, never a
/// future hour; every other hour reads back with the same rows and files, and every file the
/// metadata references is on storage.
#[tokio::test]
async fn retention_never_drops_early_or_future_hours_on_skewed_clocks() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    let Some(lib) = require_libfaketime() else { return };
    env.append_config(
        "[compactor.retention]\ntraces_retention_days = 1\nlogs_retention_days = 1\n\
         grace_period_hours = 1\nsnapshots_to_keep = 100",
    );
    let load = future_load();
    let current = hour_of(Utc::now());
    let mut hours = load.run(&env, current, 21);
    let future: Vec<String> = (current + 1..=current + 3).map(hour_label).collect();
    let ids = load.tables();
    let first = read_by_hour(&env, &ids);
    for id in &ids {
        let table = &first[&id.to_string()];
        assert_eq!(table.content.len(), hours.len(), "{id}: one partition per hour written");
        assert!(future.iter().all(|h| table.content.contains_key(h)), "{id}: {future:?}");
    }

    // (clock offset, seconds, grace hours): behind, on time, ahead by no more than the grace.
    let runs = [("-2h", -2 * HOUR, "1"), ("+0", 0, "1"), ("+2h", 2 * HOUR, "2")];
    for (offset, skew, grace) in runs {
        let before = read_by_hour(&env, &ids);
        let real_before = Utc::now();
        let grace_var = [("SIGNALDB_COMPACTOR_RETENTION_GRACE_PERIOD_HOURS", grace)];
        let out = compactor_on_clock(&env, &lib, offset, &["retention", "--json"], &grace_var);
        let real_after = Utc::now();
        let doc = json_ok(&out);
        assert_clock(&doc, skew, real_before, real_after);
        let after = read_by_hour(&env, &ids);
        let mut kept_hours = Vec::new();
        for id in &ids {
            let key = id.to_string();
            let details = retention_details(&doc, id);
            let cutoff = reported_cutoff(details);
            let (gone, kept) = split_at(&hours, cutoff);
            assert_eq!(dropped_labels(details), gone, "{offset} {key}: {details}");
            // The writers' clock: nothing dropped holds data younger than the 1-day period.
            let policy_end = real_after.timestamp() - 86_400;
            for (hour, label) in hours.iter().map(|h| (*h, hour_label(*h))) {
                if gone.contains(&label) {
                    assert!((hour + 1) * HOUR <= policy_end, "{offset} {key}: {label} early");
                }
            }
            assert!(future.iter().all(|h| kept.contains(h)), "{offset} {key}: {kept:?}");
            assert_kept_exactly(&key, &before[&key], &after[&key], &kept);
            // Each pass's cutoff reaches further than the one before (hours 28–29, 26–27 and
            // 25 ago), none into the last day.
            assert!(!gone.is_empty(), "{offset} {key}: nothing dropped at {cutoff}");
            kept_hours = hours.iter().copied().filter(|h| kept.contains(&hour_label(*h))).collect();
        }
        hours = kept_hours;
        assert_referenced_files_present(&env, &ids).await;
    }
    let last = read_by_hour(&env, &ids);
    for id in &ids {
        let key = id.to_string();
        let kept: Vec<String> = hours.iter().copied().map(hour_label).collect();
        assert_kept_exactly(&key, &first[&key], &last[&key], &kept);
    }
}

/// Sets the modification time of the local file at `location`.
fn set_mtime(location: &str, at: SystemTime) {
    let path = local_path(location);
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(at)
        .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", path.display()));
}

/// Writes an unreferenced file named `name` under `dir` with modification time `at`; returns
/// its location.
async fn plant_at(env: &TestEnv, dir: &str, name: &str, at: SystemTime) -> String {
    let location = format!("{dir}/{name}");
    plant(&env.warehouse(), &location, b"not referenced by any snapshot").await;
    set_mtime(&location, at);
    location
}

/// Orphan cleanup on a compactor clock on time, 2 h ahead with 3 h of grace, and 2 h behind: a
/// file modified 3 h in the future and the unreferenced files the store's clock says are young
/// (written 30 min ago, just now, and 90 min ago for the late clock) are kept;
/// a file unreferenced for two days goes on every clock; every file the metadata references
/// stays, and pyiceberg reads the same rows throughout.
#[tokio::test]
async fn orphan_cleanup_never_deletes_young_files_on_skewed_clocks() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    let Some(lib) = require_libfaketime() else { return };
    env.append_config("[compactor.orphan_cleanup]\ngrace_period_hours = 1");
    let load = RecentLoad {
        tenants: vec!["acme"],
        datasets: vec!["prod"],
        signals: vec!["traces"],
        newest_ago: 3,
        oldest_ago: 5,
        rows_per_file: 20,
    };
    let hours = load.run(&env, hour_of(Utc::now()), 22);
    let ids = load.tables();
    let id = &ids[0];
    let key = id.to_string();
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let dir = format!("{}/data/hour={}", table.metadata().location(), hour_label(hours[1]));
    let rows = read_by_hour(&env, &ids)[&key].content.clone();
    let warehouse = env.warehouse();
    let now = SystemTime::now();
    let min = |m: u64| Duration::from_secs(60 * m);
    let future = plant_at(&env, &dir, "00000-0-from-the-future.parquet", now + min(180)).await;
    let young = plant_at(&env, &dir, "00000-0-young.parquet", now - min(30)).await;

    // (clock offset, seconds, grace hours, an extra young file and its age in minutes). Ahead
    // by `s` with grace `g`, the compactor keeps what the store says is younger than `g − s`
    // (here 1 h); behind, it keeps more than a true clock would (the 90-minute-old file).
    let runs = [
        ("+0", 0, "1", None),
        ("+2h", 2 * HOUR, "3", Some(("00000-0-just-written.parquet", 0))),
        ("-2h", -2 * HOUR, "1", Some(("00000-0-90-minutes.parquet", 90))),
    ];
    let mut keep = vec![future, young];
    for (i, (offset, skew, grace, extra)) in runs.into_iter().enumerate() {
        let old = format!("00000-0-old-{i}.parquet");
        let old = plant_at(&env, &dir, &old, SystemTime::now() - min(48 * 60)).await;
        if let Some((name, age)) = extra {
            keep.push(plant_at(&env, &dir, name, SystemTime::now() - min(age)).await);
        }
        let real_before = Utc::now();
        let grace_var = [("SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_GRACE_PERIOD_HOURS", grace)];
        let out = compactor_on_clock(&env, &lib, offset, &["orphans", "--json"], &grace_var);
        let real_after = Utc::now();
        let doc = json_ok(&out);
        assert_clock(&doc, skew, real_before, real_after);
        let details = &doc["reports"][0]["tables"][0]["details"];
        assert_eq!(details["candidates"], serde_json::json!([old]), "{offset}: {details}");
        assert_eq!(details["files_deleted"], 1, "{offset}: {details}");
        assert_eq!(details["skipped_by_grace"], keep.len(), "{offset}: {details}");
        assert!(!exists(&warehouse, &old).await, "{offset}: two days unreferenced");
        for location in &keep {
            assert!(exists(&warehouse, location).await, "{offset}: {location} was deleted");
        }
        assert_referenced_files_present(&env, &ids).await;
        assert_eq!(read_by_hour(&env, &ids)[&key].content, rows, "{offset}");
    }
    let left: BTreeSet<String> = stored(&warehouse, &dir).await;
    assert_eq!(left.len(), 1 + 4, "the data file and four young orphans: {left:?}");
}
