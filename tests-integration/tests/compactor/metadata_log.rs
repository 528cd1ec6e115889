//! Bounded metadata: on tables with `write.metadata.previous-versions-max = 2`, set with
//! iceberg-rust as any client would, every commit of ours (a compaction pass committing in
//! several snapshots, retention's partition drop and its snapshot expiration) leaves a metadata
//! log of two entries; pyiceberg opens the current metadata and every logged file and reads
//! every snapshot by id with the rows it read when it was made. With
//! `write.metadata.delete-after-commit.enabled = true` the metadata files a commit drops from
//! the log are deleted right after it; without, they stay until `compactor orphans` removes
//! them, only once older than its grace period, and nothing any snapshot references.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::TableKind;
use common::catalog::CatalogHandle;
use common::clock::{Clock, ManualClock};
use common::storage::Warehouse;
use common::tables::TableId;
use compactor::Job;
use compactor::Metrics;
use compactor::OrphanSettings;
use compactor::Scope;
use compactor::orphan_cleanup_job;
use iceberg::Catalog;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use serde_json::Value;
use tests_integration::iceberg_read::list_locations;
use tests_integration::orphans::{backdate, reachable};
use tests_integration::pyiceberg_snapshots::read_tables;
use tests_integration::{Backend, BinCommand, TestEnv, require_python};
use tokio_util::sync::CancellationToken;

use super::{DATASET, LOADGEN, Load, TENANT, compactor, json_ok, table_entry};

/// Compaction in commits of four groups; retention of one day with an hour of grace, keeping
/// three snapshots; orphan cleanup with an hour of grace.
const CONFIG: &str = "[compactor]\nmin_input_files = 2\ngroups_per_commit = 4\n\
    [compactor.retention]\ntraces_retention_days = 1\nlogs_retention_days = 1\n\
    grace_period_hours = 1\nsnapshots_to_keep = 3\n\
    [compactor.orphan_cleanup]\ngrace_period_hours = 1";

const PREVIOUS_VERSIONS_MAX: &str = "write.metadata.previous-versions-max";
const DELETE_AFTER_COMMIT: &str = "write.metadata.delete-after-commit.enabled";

/// `traces` deletes what its commits drop from the log, `logs` leaves it to orphan cleanup.
fn tables() -> [(TableId, bool); 2] {
    [
        (TableId::new(TENANT, DATASET, TableKind::Traces).unwrap(), true),
        (TableId::new(TENANT, DATASET, TableKind::Logs).unwrap(), false),
    ]
}

/// Ten hours of `traces` and `logs` ending 20 hours ago, two files each: with one day of
/// retention and one hour of grace, the older ones are expired.
fn load(env: &TestEnv) {
    let end = (chrono::Utc::now() - chrono::Duration::hours(20)).to_rfc3339();
    let out = BinCommand::new(LOADGEN)
        .config_flag(env)
        .args(["--tenants", TENANT, "--datasets", DATASET, "--signals", "traces,logs"])
        .args(["--hours", "10", "--files-per-hour", "2", "--rows-per-file", "20", "--seed", "5"])
        .args(["--end-time", end.as_str()])
        .test_env(env)
        .run();
    out.assert_success();
}

/// Sets table properties with iceberg-rust's transaction API, as another client would.
async fn set_properties(env: &TestEnv, id: &TableId, properties: &[(&str, &str)]) {
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let tx = Transaction::new(&table);
    let mut update = tx.update_table_properties();
    for (key, value) in properties {
        update = update.set(key.to_string(), value.to_string());
    }
    let tx = update.apply(tx).unwrap();
    tx.commit(catalog.catalog()).await.unwrap();
}

/// `location` spelled as the warehouse lists it.
fn canonical(warehouse: &Warehouse, location: &str) -> String {
    warehouse.location_of(&warehouse.object_path(location).unwrap())
}

/// Every file under `location`, as the warehouse lists it.
async fn listed(warehouse: &Warehouse, location: &str) -> BTreeSet<String> {
    list_locations(warehouse, location).await.unwrap().into_iter().collect()
}

/// What one table looks like after a step, and what was seen of it before.
struct Tracked {
    id: TableId,
    delete_after_commit: bool,
    location: String,
    /// The metadata files stored under `metadata/`.
    stored: BTreeSet<String>,
    /// The current metadata file and those of its log.
    live: BTreeSet<String>,
    /// Every metadata file that was ever current or logged.
    ever_live: BTreeSet<String>,
    /// Rows and digest of every snapshot, as pyiceberg read it when it first saw it.
    rows: BTreeMap<i64, (u64, Option<i128>)>,
}

impl Tracked {
    async fn new(env: &TestEnv, id: TableId, delete_after_commit: bool) -> Tracked {
        let catalog = env.catalog().await;
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        let location = table.metadata().location().to_string();
        Tracked {
            id,
            delete_after_commit,
            location,
            stored: BTreeSet::new(),
            live: BTreeSet::new(),
            ever_live: BTreeSet::new(),
            rows: BTreeMap::new(),
        }
    }

    /// Metadata files on storage that are neither current nor logged.
    fn trimmed(&self) -> BTreeSet<String> {
        self.stored.difference(&self.live).cloned().collect()
    }
}

/// Reads every table with pyiceberg (the rows of the snapshots not read before, or of every
/// snapshot with `all_rows`, each by its id) and lists their metadata files. Checks that each
/// log holds two entries, every logged file opens and every snapshot reads the rows it read
/// when first seen.
async fn observe(env: &TestEnv, tables: &mut [Tracked], after: &str, all_rows: bool) {
    let catalog = env.catalog().await;
    let (mut rows_of, mut current) = (Vec::new(), Vec::new());
    for t in tables.iter() {
        let table = catalog.catalog().load_table(&t.id.ident()).await.unwrap();
        let ids = table.metadata().snapshots().map(|s| s.snapshot_id());
        rows_of.extend(ids.filter(|id| all_rows || !t.rows.contains_key(id)));
        current.push(table.metadata_location().unwrap().to_string());
    }
    let idents: Vec<String> = tables.iter().map(|t| t.id.to_string()).collect();
    let mut read = read_tables(env, &idents, Some(&rows_of));
    let warehouse = env.warehouse();
    for (t, current) in tables.iter_mut().zip(current) {
        let key = format!("{} {} after {after}", env.backend(), t.id);
        let read = read.remove(&t.id.to_string()).unwrap();
        assert_eq!(read.metadata_location, current, "{key}");
        let max = read.properties.get(PREVIOUS_VERSIONS_MAX);
        assert_eq!(max.map(String::as_str), Some("2"), "{key}");
        assert_eq!(read.metadata_log.len(), 2, "{key}: {:?}", read.metadata_log);
        assert!(!read.snapshots.is_empty(), "{key}");
        for s in &read.snapshots {
            let Some(rows) = s.rows else { continue };
            let digest = s.rows_digest;
            let first = t.rows.entry(s.snapshot_id).or_insert((rows, digest));
            assert_eq!(
                first,
                &(rows, digest),
                "{key}: snapshot {} reads other rows",
                s.snapshot_id
            );
        }
        let unread: Vec<i64> = read
            .snapshots
            .iter()
            .map(|s| s.snapshot_id)
            .filter(|id| !t.rows.contains_key(id))
            .collect();
        assert!(unread.is_empty(), "{key}: snapshots never read {unread:?}");
        t.live = read.live_metadata_files().iter().map(|l| canonical(&warehouse, l)).collect();
        t.ever_live.extend(t.live.iter().cloned());
        let dir = format!("{}/metadata", t.location);
        let stored = listed(&warehouse, &dir).await;
        t.stored = stored.into_iter().filter(|l| l.ends_with(".metadata.json")).collect();
        assert!(t.live.is_subset(&t.stored), "{key}: {:?} {:?}", t.live, t.stored);
    }
}

/// Observes every table after `step`, which committed to each, and checks what its commits
/// did to the metadata files: with delete-after-commit, every file they wrote or dropped from
/// the log is gone unless still current or logged, and no other file; without, none is gone.
async fn after_commits(env: &TestEnv, tables: &mut [Tracked], step: &str) {
    let before: Vec<_> = tables.iter().map(|t| (t.stored.clone(), t.live.clone())).collect();
    observe(env, tables, step, false).await;
    for (t, (stored, live)) in tables.iter().zip(before) {
        let key = format!("{} {} after {step}", env.backend(), t.id);
        assert_ne!(t.live, live, "{key}: no commit");
        if t.delete_after_commit {
            let left = |stored: &BTreeSet<String>, live: &BTreeSet<String>| {
                stored.difference(live).cloned().collect::<BTreeSet<_>>()
            };
            let (now, then) = (left(&t.stored, &t.live), left(&stored, &live));
            assert_eq!(now, then, "{key}: metadata files neither current nor logged");
        } else {
            let gone: Vec<&String> = stored.difference(&t.stored).collect();
            assert!(gone.is_empty(), "{key}: deleted {gone:?}");
        }
    }
}

#[tokio::test]
async fn a_trimmed_metadata_log_keeps_every_snapshot_readable_on_sqlite_local() {
    a_trimmed_metadata_log_keeps_every_snapshot_readable(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn a_trimmed_metadata_log_keeps_every_snapshot_readable_on_postgres_s3() {
    a_trimmed_metadata_log_keeps_every_snapshot_readable(Backend::PostgresS3).await;
}

async fn a_trimmed_metadata_log_keeps_every_snapshot_readable(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(CONFIG);
    load(&env);
    let mut tracked = Vec::new();
    for (id, delete_after_commit) in tables() {
        let flag = delete_after_commit.to_string();
        set_properties(&env, &id, &[(PREVIOUS_VERSIONS_MAX, "2"), (DELETE_AFTER_COMMIT, &flag)])
            .await;
        tracked.push(Tracked::new(&env, id, delete_after_commit).await);
    }
    observe(&env, &mut tracked, "setting the properties", false).await;

    // Ten groups per table, committed four at a time: three commits each.
    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    for t in &tracked {
        let groups = table_entry(&doc, &t.id)["details"]["execution"]["groups"].clone();
        let commits: BTreeSet<i64> =
            groups.as_array().unwrap().iter().filter_map(|g| g["snapshot_id"].as_i64()).collect();
        assert_eq!(commits.len(), 3, "{backend} {}: {groups}", t.id);
    }
    after_commits(&env, &mut tracked, "compaction").await;

    // A partition drop and a snapshot expiration.
    let doc = json_ok(&compactor(&env, &["retention", "--json"]));
    for t in &tracked {
        let details = &table_entry(&doc, &t.id)["details"];
        let dropped = details["partitions_dropped"].as_array().map_or(0, Vec::len);
        let expired = details["snapshots_expired"].as_array().map_or(0, Vec::len);
        assert!(dropped > 0 && expired > 0, "{backend} {}: {details}", t.id);
    }
    after_commits(&env, &mut tracked, "retention").await;
    for t in &tracked {
        let trimmed = t.trimmed();
        let ours: Vec<&String> = t.ever_live.intersection(&trimmed).collect();
        if t.delete_after_commit {
            assert!(ours.is_empty(), "{backend} {}: left behind {ours:?}", t.id);
        } else {
            assert_eq!(ours.len(), 5, "{backend} {}: one per commit: {ours:?}", t.id);
        }
        // The files the properties' commit (iceberg-rust's) trimmed and left.
        assert!(!trimmed.is_empty(), "{backend} {}", t.id);
    }

    // Orphan cleanup: every trimmed file is younger than its grace period, nothing goes.
    let warehouse = env.warehouse();
    let mut stored = BTreeMap::new();
    for t in &tracked {
        stored.insert(t.id.to_string(), listed(&warehouse, &t.location).await);
    }
    let doc = json_ok(&compactor(&env, &["orphans", "--json"]));
    for t in &tracked {
        let d = &table_entry(&doc, &t.id)["details"];
        assert_eq!([&d["orphans"], &d["files_deleted"]], [0, 0], "{backend} {}: {d}", t.id);
        assert!(d["skipped_by_grace"].as_u64() >= Some(t.trimmed().len() as u64), "{d}");
        assert_eq!(listed(&warehouse, &t.location).await, stored[&t.id.to_string()]);
    }

    // Older than the grace period, they go: on local storage the trimmed files alone are
    // back-dated, and exactly they are deleted; moto cannot back-date, so the clock moves on
    // instead and every unreferenced file goes. Either way, all that the metadata reaches stays.
    if backend.uses_s3() {
        let report = cleanup_a_day_later(&env).await;
        for t in &tracked {
            let d = &table_entry(&report, &t.id)["details"];
            let left = listed(&warehouse, &t.location).await;
            let gone: BTreeSet<String> =
                stored[&t.id.to_string()].difference(&left).cloned().collect();
            assert!(t.trimmed().is_subset(&gone), "{backend} {}: {d}", t.id);
            assert_eq!(d["files_deleted"], gone.len(), "{backend} {}: {d}", t.id);
        }
    } else {
        for t in &tracked {
            for location in t.trimmed() {
                backdate(&location, Duration::from_secs(2 * 86_400));
            }
        }
        let doc = json_ok(&compactor(&env, &["orphans", "--json"]));
        for t in &tracked {
            let d = &table_entry(&doc, &t.id)["details"];
            let left = listed(&warehouse, &t.location).await;
            let gone: BTreeSet<String> =
                stored[&t.id.to_string()].difference(&left).cloned().collect();
            assert_eq!(gone, t.trimmed(), "{backend} {}: {d}", t.id);
            assert_eq!(d["files_deleted"], gone.len(), "{backend} {}: {d}", t.id);
        }
    }
    let catalog = env.catalog().await;
    observe(&env, &mut tracked, "orphan cleanup", true).await;
    for t in &tracked {
        let table = catalog.catalog().load_table(&t.id.ident()).await.unwrap();
        let referenced = reachable(&warehouse, &table).await;
        let left: BTreeSet<String> = listed(&warehouse, &t.location)
            .await
            .iter()
            .map(|l| warehouse.object_path(l).unwrap().to_string())
            .collect();
        let missing: Vec<&String> = referenced.difference(&left).collect();
        assert!(missing.is_empty(), "{backend} {}: deleted referenced files {missing:?}", t.id);
        if backend.uses_s3() {
            assert_eq!(left, referenced, "{backend} {}: only what the metadata reaches", t.id);
        }
        assert_eq!(table.metadata().snapshots().len(), 3, "{backend} {}", t.id);
        assert!(t.trimmed().is_empty(), "{backend} {}: {:?}", t.id, t.trimmed());
    }
}

/// Runs orphan cleanup over every table as the daemon would a day and an hour from now, when
/// every file written so far is past its grace period; returns the pass's report as `--json`
/// prints it.
async fn cleanup_a_day_later(env: &TestEnv) -> Value {
    let clock: Arc<dyn Clock> =
        Arc::new(ManualClock::new(chrono::Utc::now() + chrono::Duration::hours(25)));
    let config = env.load_config();
    let handle = Arc::new(CatalogHandle::new(config.schema.clone(), env.warehouse()));
    let settings = OrphanSettings::from(&config.compactor.orphan_cleanup);
    let pass = compactor::PassSettings::new(1, 1024);
    let job = orphan_cleanup_job(settings, handle, Arc::new(Metrics::new()), clock, pass);
    let report = job.run(&Scope::default(), &CancellationToken::new()).await;
    assert!(report.succeeded(), "{report:?}");
    let failures = report.failures();
    serde_json::json!({ "reports": [report], "failures": failures })
}

/// Java and pyiceberg read `write.metadata.delete-after-commit.enabled` as a boolean whatever
/// its case (`Boolean.parseBoolean`, `strtobool`), as Spark SQL users may write it: a table
/// that sets it to `TRUE` has the metadata files our commits drop from its log deleted too.
#[tokio::test]
async fn delete_after_commit_is_read_whatever_its_case_on_sqlite_local() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config("[compactor]\nmin_input_files = 2");
    let load =
        Load { signals: &[TableKind::Traces], hours: 3, files_per_hour: 2, rows_per_file: 20 };
    let id = load.run(&env).remove(0);
    set_properties(&env, &id, &[(PREVIOUS_VERSIONS_MAX, "2"), (DELETE_AFTER_COMMIT, "TRUE")]).await;
    let mut tracked = vec![Tracked::new(&env, id, true).await];
    observe(&env, &mut tracked, "setting the properties", false).await;
    json_ok(&compactor(&env, &["compact", "--json"]));
    after_commits(&env, &mut tracked, "compaction").await;
}
