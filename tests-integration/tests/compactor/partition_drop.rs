//! `compactor retention` dropping expired `hour` partitions of real tables: one metadata-only
//! `delete` snapshot per table, exactly the expired hours gone for pyiceberg and iceberg-rust,
//! their files still on storage; dry runs change nothing; other datasets and tenants are never
//! touched; a writer appending meanwhile loses nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::tables::TableId;
use iceberg::Catalog;
use serde_json::Value;
use tests_integration::iceberg_read::{list_locations, rows_per_hour};
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::retention::{
    RecentLoad, dropped_labels, expired_ids, hour_of, reported_cutoff, retention_details, split_at,
};
use tests_integration::{Backend, BinCommand, TestEnv, require_python};

use super::{COMPACTOR, LOADGEN, assert_linear_history, compactor, json_ok};

/// Traces and logs kept 1 day plus 1 hour of grace; expiration out of the way.
const POLICY: &str = "[compactor.retention]
traces_retention_days = 1
logs_retention_days = 1
grace_period_hours = 1
snapshots_to_keep = 100";

/// Hours 22 to 29 before the current one in acme/prod traces and logs: hours 26 and older are
/// expired under [`POLICY`], the four younger ones are not.
fn load() -> RecentLoad {
    RecentLoad {
        tenants: vec!["acme"],
        datasets: vec!["prod"],
        signals: vec!["traces", "logs"],
        newest_ago: 22,
        oldest_ago: 29,
        rows_per_file: 30,
    }
}

/// Every table's metadata location.
async fn locations(env: &TestEnv, ids: &[TableId]) -> BTreeMap<String, String> {
    let catalog = env.catalog().await;
    let mut out = BTreeMap::new();
    for id in ids {
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        out.insert(id.to_string(), table.metadata_location().unwrap().to_string());
    }
    out
}

#[tokio::test]
async fn expired_partitions_are_dropped_on_sqlite_local() {
    expired_partitions_are_dropped(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn expired_partitions_are_dropped_on_postgres_s3() {
    expired_partitions_are_dropped(Backend::PostgresS3).await;
}

/// The expired hours go in one `delete` snapshot per table, logged with their files and rows;
/// every other hour reads back unchanged; the dropped files stay on storage; a second pass
/// changes nothing.
async fn expired_partitions_are_dropped(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(POLICY);
    let load = load();
    let hours = load.run(&env, hour_of(Utc::now()), 11);
    let ids = load.tables();
    let before = read_by_hour(&env, &ids);

    let out = compactor(&env, &["retention", "--json"]);
    let doc = json_ok(&out);
    let after = read_by_hour(&env, &ids);
    let catalog = env.catalog().await;
    for id in &ids {
        let key = id.to_string();
        let (b, a) = (&before[&key], &after[&key]);
        let details = retention_details(&doc, id);
        let (gone, kept) = split_at(&hours, reported_cutoff(details));
        assert_eq!(gone.len(), 4, "{key}: {details}");
        assert_eq!(dropped_labels(details), gone, "{key}");
        assert_eq!(details["partitions_evaluated"], hours.len(), "{key}");
        let rows: u64 = gone.iter().map(|h| b.content[h].rows).sum();
        assert_eq!([&details["rows_removed"], &details["files_removed"]], [rows, 4], "{key}");
        assert!(details["bytes_removed"].as_u64().unwrap() > 0, "{details}");
        for hour in &gone {
            let line = format!(
                "Dropped partition: tenant=acme dataset=prod table={} hour={hour} files=1 rows={}",
                id.table, b.content[hour].rows
            );
            assert_eq!(out.stderr.matches(&line).count(), 1, "no `{line}`\n{}", out.stderr);
        }

        // Exactly the retained hours, unchanged, for pyiceberg and iceberg-rust.
        assert_eq!(a.content.keys().cloned().collect::<Vec<_>>(), kept, "{key}");
        for hour in &kept {
            assert_eq!(a.content[hour], b.content[hour], "{key} {hour}");
            assert_eq!(a.files_of(hour), b.files_of(hour), "{key} {hour}");
        }
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        assert_eq!(rows_per_hour(&table).await.unwrap(), a.rows_per_hour(), "{key}");

        // One metadata-only delete snapshot on top of the appends.
        assert_eq!(a.snapshots[..b.snapshots.len()], b.snapshots[..], "{key}");
        let new = &a.snapshots[b.snapshots.len()..];
        assert_eq!(new.len(), 1, "{key}: {new:?}");
        assert_eq!(new[0].operation, "delete", "{key}");
        assert_eq!(details["drop_snapshot_id"], new[0].snapshot_id, "{key}");
        assert_linear_history(&key, a);

        // The dropped files are still on storage: orphan cleanup reclaims them later.
        let stored: BTreeSet<String> =
            list_locations(catalog.warehouse(), table.metadata().location())
                .await
                .unwrap()
                .into_iter()
                .collect();
        for hour in &gone {
            let files = b.files_of(hour);
            assert!(!files.is_empty() && files.is_subset(&stored), "{key} {hour}: {files:?}");
        }
    }

    // A second pass finds nothing expired and commits nothing; its text report says so.
    let unchanged = locations(&env, &ids).await;
    let out = compactor(&env, &["retention"]);
    out.assert_success();
    assert_eq!(locations(&env, &ids).await, unchanged);
    assert!(out.stdout.starts_with("retention: 2 table(s), 0 failure(s)"), "{}", out.stdout);
    for id in &ids {
        let line = format!(
            "\n  {id}: dropped 0 of 4 partitions (0 rows, 0 bytes), expired 0 snapshot(s); {} kept 1 days (global tier)",
            id.table
        );
        assert!(out.stdout.contains(&line), "no `{line}`\n{}", out.stdout);
    }
    assert_eq!(
        out.stdout.matches("      partitions: 4 evaluated, 0 dropped\n").count(),
        2,
        "{}",
        out.stdout
    );
}

/// `--dry-run` and `dry_run = true` log exactly the partitions and snapshots a real pass then
/// drops and expires, and leave every metadata location and every stored object as it was.
#[tokio::test]
async fn dry_runs_log_what_would_happen_and_change_nothing() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    env.append_config(&POLICY.replace("snapshots_to_keep = 100", "snapshots_to_keep = 3"));
    let load = load();
    let hours = load.run(&env, hour_of(Utc::now()), 12);
    let ids = load.tables();
    let catalog = env.catalog().await;
    let objects =
        || async { list_locations(catalog.warehouse(), env.warehouse_uri()).await.unwrap() };
    let (before, stored) = (locations(&env, &ids).await, objects().await);

    let flag = compactor(&env, &["retention", "--dry-run", "--json"]);
    let config = BinCommand::new(COMPACTOR)
        .args(["retention", "--json"])
        .test_env(&env)
        .env("RUST_LOG", "info")
        .env("SIGNALDB_COMPACTOR_RETENTION_DRY_RUN", "true")
        .run();
    let mut planned: BTreeMap<String, (Vec<String>, Vec<i64>)> = BTreeMap::new();
    for (what, out) in [("--dry-run", &flag), ("dry_run = true", &config)] {
        let doc = json_ok(out);
        assert_eq!(doc["reports"][0]["dry_run"], true, "{what}");
        assert_eq!(locations(&env, &ids).await, before, "{what}: metadata location unchanged");
        assert_eq!(objects().await, stored, "{what}: nothing written");
        let drop_lines =
            out.stderr.lines().filter(|l| l.contains("[DRY-RUN] Would drop partition: ")).count();
        let expire_lines =
            out.stderr.lines().filter(|l| l.contains("[DRY-RUN] Would expire snapshot: ")).count();
        assert_eq!((drop_lines, expire_lines), (2 * 4, 2 * 6), "{what}\n{}", out.stderr);
        for id in &ids {
            let details = retention_details(&doc, id);
            let (gone, _) = split_at(&hours, reported_cutoff(details));
            assert_eq!(dropped_labels(details), gone, "{what} {id}");
            for hour in &gone {
                let line = format!(
                    "[DRY-RUN] Would drop partition: tenant=acme dataset=prod table={} hour={hour}",
                    id.table
                );
                assert_eq!(
                    out.stderr.matches(&line).count(),
                    1,
                    "{what}: no `{line}`\n{}",
                    out.stderr
                );
            }
            // Eight appends and the drop, three kept: the six oldest appends would go.
            let expiring = expired_ids(details);
            assert_eq!(expiring.len(), 6, "{what} {id}: {details}");
            for snapshot_id in &expiring {
                let line =
                    format!("[DRY-RUN] Would expire snapshot: snapshot_id={snapshot_id} age=0days");
                assert!(out.stderr.contains(&line), "{what}: no `{line}`\n{}", out.stderr);
            }
            assert_eq!(details["drop_snapshot_id"], Value::Null);
            planned.insert(id.to_string(), (gone, expiring));
        }
    }

    // The real pass does exactly what the dry run announced.
    let doc = json_ok(&compactor(&env, &["retention", "--json"]));
    for id in &ids {
        let details = retention_details(&doc, id);
        let (gone, expiring) = &planned[&id.to_string()];
        assert_eq!(&dropped_labels(details), gone, "{id}");
        assert_eq!(&expired_ids(details), expiring, "{id}");
    }
    assert_ne!(locations(&env, &ids).await, before);
}

/// Retention scoped to acme/prod drops only there; acme/staging and tenant other, holding the
/// same hours under the same policy, are untouched until their own pass.
#[tokio::test]
async fn drops_never_touch_other_datasets_or_tenants() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(POLICY);
    let load = RecentLoad {
        tenants: vec!["acme", "other"],
        datasets: vec!["prod", "staging"],
        signals: vec!["logs"],
        ..load()
    };
    let hours = load.run(&env, hour_of(Utc::now()), 13);
    let ids = load.tables();
    let before = read_by_hour(&env, &ids);
    let locations_before = locations(&env, &ids).await;

    let doc = json_ok(&compactor(
        &env,
        &["retention", "--tenant", "acme", "--dataset", "prod", "--json"],
    ));
    let tables = doc["reports"][0]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "{doc}");
    let prod = TableId::new("acme", "prod", "logs".parse().unwrap()).unwrap();
    let (gone, kept) = split_at(&hours, reported_cutoff(retention_details(&doc, &prod)));
    assert_eq!(gone.len(), 4);
    let after = read_by_hour(&env, &ids);
    let locations_after = locations(&env, &ids).await;
    for id in &ids {
        let key = id.to_string();
        if *id == prod {
            assert_ne!(locations_after[&key], locations_before[&key]);
            assert_eq!(after[&key].content.keys().cloned().collect::<Vec<_>>(), kept, "{key}");
        } else {
            assert_eq!(locations_after[&key], locations_before[&key], "{key} was touched");
            assert_eq!(after[&key].content, before[&key].content, "{key}");
            assert_eq!(after[&key].snapshots, before[&key].snapshots, "{key}");
        }
    }

    // The tenant's pass reaches its other dataset, still not the other tenant.
    let doc = json_ok(&compactor(&env, &["retention", "--tenant", "acme", "--json"]));
    assert_eq!(doc["reports"][0]["tables"].as_array().unwrap().len(), 2, "{doc}");
    let staging = TableId::new("acme", "staging", "logs".parse().unwrap()).unwrap();
    assert_eq!(dropped_labels(retention_details(&doc, &staging)), gone);
    let locations_last = locations(&env, &ids).await;
    for id in ids.iter().filter(|id| id.tenant == "other") {
        assert_eq!(locations_last[&id.to_string()], locations_before[&id.to_string()], "{id}");
    }
}

/// `signaldb-loadgen --continuous` appends to the current hour while five retention passes,
/// each with an hour less of grace, drop one expired hour after the other and expire
/// snapshots: the commits race the writer's, and no row of a live partition is lost. A drop
/// that loses every attempt is deferred (not failed) and done by a later pass; a last pass
/// after the writer stops drops whatever is left.
#[tokio::test]
async fn a_writer_appending_during_retention_loses_nothing() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(
        "[compactor.retention]\ntraces_retention_days = 1\nlogs_retention_days = 1\nsnapshots_to_keep = 4",
    );
    let load = RecentLoad { newest_ago: 20, oldest_ago: 29, ..load() };
    let hours = load.run(&env, hour_of(Utc::now()), 14);
    let ids = load.tables();
    let before = read_by_hour(&env, &ids);

    let mut writer = BinCommand::new(LOADGEN)
        .config_flag(&env)
        .args(["--tenants", "acme", "--datasets", "prod", "--signals", "traces,logs"])
        .args(["--hours", "0", "--rows-per-file", "7", "--seed", "15"])
        .args(["--continuous", "--interval-ms", "100", "--json"])
        .test_env(&env)
        .spawn();
    let catalog = env.catalog().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in &ids {
        let appended = before[&id.to_string()].snapshots.len();
        loop {
            let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
            if table.metadata().snapshots().count() > appended {
                break;
            }
            assert!(Instant::now() < deadline, "the writer appended nothing to {id}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let pass = |grace: &str| {
        let out = BinCommand::new(COMPACTOR)
            .args(["retention", "--json"])
            .test_env(&env)
            .env("RUST_LOG", "info")
            .env("SIGNALDB_COMPACTOR_RETENTION_GRACE_PERIOD_HOURS", grace)
            .run();
        json_ok(&out)
    };
    let mut dropped = BTreeMap::<String, Vec<String>>::new();
    let (mut conflicts, mut committed_while_writing, mut deferred) = (0, 0, 0);
    let mut record = |doc: &Value, writing: bool| {
        for id in &ids {
            let details = retention_details(doc, id);
            let labels = dropped_labels(details);
            committed_while_writing += usize::from(writing && !labels.is_empty());
            dropped.entry(id.to_string()).or_default().extend(labels);
            conflicts += details["conflicts"].as_u64().unwrap();
            deferred += details["deferred"].as_array().unwrap().len();
        }
    };
    for grace in ["4", "3", "2", "1", "0"] {
        record(&pass(grace), true);
    }
    assert!(writer.is_running(), "the writer stopped while retention ran");
    writer.terminate();
    let out = writer.wait_timeout(Duration::from_secs(30));
    out.assert_success();
    let summary = out.json();
    let last = pass("0");
    record(&last, false);
    eprintln!(
        "a_writer_appending_during_retention_loses_nothing: {committed_while_writing} drop(s) \
         committed while the writer ran, {conflicts} commit conflict(s), {deferred} deferred"
    );
    assert!(committed_while_writing > 0, "no drop was committed while the writer ran");

    let (gone, kept) = split_at(&hours, reported_cutoff(retention_details(&last, &ids[0])));
    assert!(gone.len() >= 5 && !kept.is_empty(), "{gone:?} {kept:?}");
    let after = read_by_hour(&env, &ids);
    for id in &ids {
        let key = id.to_string();
        let (b, a) = (&before[&key], &after[&key]);
        assert_eq!(dropped[&key], gone, "{key}: each expired hour dropped once");
        for hour in &kept {
            assert_eq!(a.content[hour], b.content[hour], "{key} {hour}");
        }
        for hour in &gone {
            assert!(!a.content.contains_key(hour), "{key} {hour} still there");
        }
        let tables = summary["tables"].as_array().unwrap();
        let written = tables.iter().find(|t| t["signal"] == id.table.as_str());
        let rows = written.unwrap_or_else(|| panic!("{summary}"))["rows"].as_u64().unwrap();
        let new_rows: u64 = a
            .content
            .iter()
            .filter(|(h, _)| !b.content.contains_key(*h))
            .map(|(_, c)| c.rows)
            .sum();
        assert!(rows > 0);
        assert_eq!(new_rows, rows, "{key}: every row the writer appended");
        assert_linear_history(&key, a);
    }
}
