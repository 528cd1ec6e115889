//! `compactor retention` expiring snapshots of real tables: the `snapshots_to_keep` most
//! recent stay, never fewer than one, never the current one, never one a tag or branch (made
//! with pyiceberg) points to; the rows stay as they were; no file is deleted; dry runs only
//! report.

use std::collections::{BTreeMap, BTreeSet};

use arrow_array::RecordBatch;
use chrono::Utc;
use common::tables::TableId;
use futures::TryStreamExt;
use iceberg::Catalog;
use tests_integration::iceberg_read::{list_locations, rows_per_hour};
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::retention::{
    RecentLoad, dropped_labels, expired_ids, hour_of, pyiceberg_create_refs, reported_cutoff,
    retention_details, split_at,
};
use tests_integration::{Backend, BinCommand, TestEnv, require_python};

use super::{COMPACTOR, assert_linear_history, compactor, json_ok};

/// Six recent hours of acme/prod logs and traces: six append snapshots per table, none of
/// their data old enough for the default periods.
fn recent() -> RecentLoad {
    RecentLoad {
        tenants: vec!["acme"],
        datasets: vec!["prod"],
        signals: vec!["traces", "logs"],
        newest_ago: 0,
        oldest_ago: 5,
        rows_per_file: 15,
    }
}

#[tokio::test]
async fn the_most_recent_snapshots_are_kept_on_sqlite_local() {
    the_most_recent_snapshots_are_kept(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn the_most_recent_snapshots_are_kept_on_postgres_s3() {
    the_most_recent_snapshots_are_kept(Backend::PostgresS3).await;
}

/// With `snapshots_to_keep = 2` the four oldest of six snapshots go, by sequence number; the
/// table reads the same, its files all stay on storage, and a second pass changes nothing.
async fn the_most_recent_snapshots_are_kept(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config("[compactor.retention]\nsnapshots_to_keep = 2");
    let load = recent();
    load.run(&env, hour_of(Utc::now()), 21);
    let ids = load.tables();
    let before = read_by_hour(&env, &ids);
    let catalog = env.catalog().await;
    let mut stored = BTreeMap::new();
    for id in &ids {
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        let listed =
            list_locations(catalog.warehouse(), table.metadata().location()).await.unwrap();
        stored.insert(id.to_string(), listed);
    }

    let out = compactor(&env, &["retention", "--json"]);
    let doc = json_ok(&out);
    let after = read_by_hour(&env, &ids);
    for id in &ids {
        let key = id.to_string();
        let (b, a) = (&before[&key], &after[&key]);
        let details = retention_details(&doc, id);
        assert_eq!(b.snapshots.len(), 6, "{key}");
        let oldest: Vec<i64> = b.snapshots[..4].iter().map(|s| s.snapshot_id).collect();
        assert_eq!(expired_ids(details), oldest, "{key}: {details}");
        assert_eq!(
            [&details["snapshots_kept"], &details["drop_snapshot_id"]],
            [&2.into(), &serde_json::Value::Null]
        );
        assert_eq!(a.snapshots, b.snapshots[4..], "{key}");
        for snapshot_id in &oldest {
            let line = format!("Expired snapshot: snapshot_id={snapshot_id} age=0days");
            assert!(out.stderr.contains(&line), "no `{line}`\n{}", out.stderr);
        }

        // The same rows for pyiceberg and iceberg-rust; every file still stored.
        assert_eq!(a.content, b.content, "{key}");
        assert_eq!(a.files, b.files, "{key}");
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        assert_eq!(table.metadata_location(), Some(a.metadata_location()));
        assert_eq!(rows_per_hour(&table).await.unwrap(), b.rows_per_hour(), "{key}");
        let listed =
            list_locations(catalog.warehouse(), table.metadata().location()).await.unwrap();
        let listed: BTreeSet<String> = listed.into_iter().collect();
        assert!(stored[&key].iter().all(|f| listed.contains(f)), "{key}: a file was deleted");
    }

    let unchanged: Vec<String> =
        after.values().map(|t| t.metadata_location().to_string()).collect();
    let doc = json_ok(&compactor(&env, &["retention", "--json"]));
    let again = read_by_hour(&env, &ids);
    for id in &ids {
        assert_eq!(expired_ids(retention_details(&doc, id)), Vec::<i64>::new(), "{id}");
    }
    let now: Vec<String> = again.values().map(|t| t.metadata_location().to_string()).collect();
    assert_eq!(now, unchanged, "a second pass commits nothing");
}

/// A tag and a branch made with pyiceberg on the two oldest snapshots survive
/// `snapshots_to_keep = 1`, as does the current snapshot; both refs still read their rows.
#[tokio::test]
async fn the_current_snapshot_and_referenced_snapshots_are_never_expired() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config("[compactor.retention]\nsnapshots_to_keep = 1");
    let load = RecentLoad { signals: vec!["logs"], ..recent() };
    load.run(&env, hour_of(Utc::now()), 22);
    let id = &load.tables()[0];
    let key = id.to_string();
    let before = read_by_hour(&env, &[id]);
    let snapshots: Vec<i64> = before[&key].snapshots.iter().map(|s| s.snapshot_id).collect();
    let refs =
        pyiceberg_create_refs(&env, &key, &[("audit", snapshots[0])], &[("dev", snapshots[1])]);
    assert_eq!(
        (refs["audit"], refs["dev"], refs["main"]),
        (snapshots[0], snapshots[1], snapshots[5])
    );

    let doc = json_ok(&compactor(&env, &["retention", "--json"]));
    let details = retention_details(&doc, id);
    assert_eq!(expired_ids(details), snapshots[2..5], "{details}");
    assert_eq!(details["snapshots_kept"], 3);

    let after = read_by_hour(&env, &[id]);
    let left: Vec<i64> = after[&key].snapshots.iter().map(|s| s.snapshot_id).collect();
    assert_eq!(left, [snapshots[0], snapshots[1], snapshots[5]]);
    assert_eq!(after[&key].content, before[&key].content);
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let md = table.metadata();
    assert_eq!(md.current_snapshot_id(), Some(snapshots[5]));
    for (name, snapshot_id, rows) in [("audit", snapshots[0], 15), ("dev", snapshots[1], 30)] {
        assert_eq!(md.snapshot_for_ref(name).map(|s| s.snapshot_id()), Some(snapshot_id), "{name}");
        let scan = table.scan().snapshot_id(snapshot_id).build().unwrap();
        let batches: Vec<RecordBatch> = scan.to_arrow().await.unwrap().try_collect().await.unwrap();
        let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(total, rows, "{name} reads its snapshot");
    }

    // Nothing more can go: a second pass keeps all three.
    let doc = json_ok(&compactor(&env, &["retention", "--json"]));
    assert_eq!(expired_ids(retention_details(&doc, id)), Vec::<i64>::new());
}

/// `--dry-run` and `dry_run = true` log each snapshot a real pass expires and commit nothing.
#[tokio::test]
async fn dry_runs_list_the_snapshots_and_expire_nothing() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    env.append_config("[compactor.retention]\nsnapshots_to_keep = 3");
    let load = recent();
    load.run(&env, hour_of(Utc::now()), 23);
    let ids = load.tables();
    let catalog = env.catalog().await;
    let locations = || async {
        let mut out = Vec::new();
        for id in &ids {
            let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
            out.push(table.metadata_location().unwrap().to_string());
        }
        out
    };
    let before = locations().await;
    let flag = compactor(&env, &["retention", "--dry-run", "--json"]);
    let config = BinCommand::new(COMPACTOR)
        .args(["retention", "--json"])
        .test_env(&env)
        .env("RUST_LOG", "info")
        .env("SIGNALDB_COMPACTOR_RETENTION_DRY_RUN", "true")
        .run();
    let mut planned: BTreeMap<TableId, Vec<i64>> = BTreeMap::new();
    for (what, out) in [("--dry-run", &flag), ("dry_run = true", &config)] {
        let doc = json_ok(out);
        assert_eq!(locations().await, before, "{what}: metadata location unchanged");
        for id in &ids {
            let expiring = expired_ids(retention_details(&doc, id));
            assert_eq!(expiring.len(), 3, "{what} {id}");
            for snapshot_id in &expiring {
                let line =
                    format!("[DRY-RUN] Would expire snapshot: snapshot_id={snapshot_id} age=0days");
                assert_eq!(
                    out.stderr.matches(&line).count(),
                    1,
                    "{what}: no `{line}`\n{}",
                    out.stderr
                );
            }
            planned.insert(id.clone(), expiring);
        }
    }
    let doc = json_ok(&compactor(&env, &["retention", "--json"]));
    for id in &ids {
        assert_eq!(expired_ids(retention_details(&doc, id)), planned[id], "{id}");
    }
}

/// One pass drops first, then expires: with `snapshots_to_keep = 1` only the `delete`
/// snapshot is left, and pyiceberg reads exactly the retained rows.
#[tokio::test]
async fn expiration_follows_the_drop_in_the_same_pass() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config("[compactor.retention]\nlogs_retention_days = 1\ngrace_period_hours = 0\nsnapshots_to_keep = 1");
    let load = RecentLoad { signals: vec!["logs"], newest_ago: 20, oldest_ago: 27, ..recent() };
    let hours = load.run(&env, hour_of(Utc::now()), 24);
    let id = &load.tables()[0];
    let key = id.to_string();
    let before = read_by_hour(&env, &[id]);

    let doc = json_ok(&compactor(&env, &["retention", "--json"]));
    let details = retention_details(&doc, id);
    let (gone, kept) = split_at(&hours, reported_cutoff(details));
    assert!(!gone.is_empty() && !kept.is_empty(), "{gone:?} {kept:?}");
    assert_eq!(dropped_labels(details), gone);
    let appends: Vec<i64> = before[&key].snapshots.iter().map(|s| s.snapshot_id).collect();
    assert_eq!(expired_ids(details), appends, "every append snapshot expired");

    let after = read_by_hour(&env, &[id]);
    let a = &after[&key];
    assert_eq!(a.snapshots.len(), 1, "{:?}", a.snapshots);
    assert_eq!(a.snapshots[0].operation, "delete");
    assert_eq!(details["drop_snapshot_id"], a.snapshots[0].snapshot_id);
    assert_linear_history(&key, a);
    assert_eq!(a.content.keys().cloned().collect::<Vec<_>>(), kept);
    for hour in &kept {
        assert_eq!(a.content[hour], before[&key].content[hour], "{hour}");
    }
}
