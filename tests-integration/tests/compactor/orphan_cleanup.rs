//! Orphan-file cleanup on real tables: abandoned files go only after the grace period, files
//! of every live snapshot stay (however old), a file committed between scan and delete stays,
//! nothing outside the table's location is touched, a killed run resumes from its checkpoint,
//! and after compaction, retention, expiration and cleanup storage holds exactly what the
//! metadata reaches while pyiceberg still reads every retained row.

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TableKind;
use common::catalog::CatalogHandle;
use common::clock::{Clock, ManualClock};
use common::tables::TableId;
use compactor::Job;
use compactor::Metrics;
use compactor::OrphanReport;
use compactor::Scope;
use compactor::StateStore;
use compactor::TableContext;
use compactor::TableOutcome;
use compactor::orphan_cleanup_job;
use compactor::{OrphanCleanupStep, OrphanSettings};
use iceberg::Catalog;
use iceberg::spec::{DataContentType, DataFileBuilder, DataFileFormat};
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use serde_json::Value;
use tests_integration::orphans::{backdate, backdate_tree, exists, plant, reachable, stored};
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::{Backend, BinCommand, TestEnv, require_python};
use tokio_util::sync::CancellationToken;

use super::{COMPACTOR, DATASET, LOADGEN, Load, TENANT, compactor, json_ok, table_entry};

const DAY: Duration = Duration::from_secs(86_400);
const TRACES: Load =
    Load { signals: &[TableKind::Traces], hours: 2, files_per_hour: 2, rows_per_file: 50 };

/// Ten hours of `acme.prod.traces` ending 20 hours ago, two files each: with one day of
/// retention and one hour of grace, the older ones are expired.
pub fn load_hours_around_a_one_day_cutoff(env: &TestEnv) {
    let end = (chrono::Utc::now() - chrono::Duration::hours(20)).to_rfc3339();
    let out = BinCommand::new(LOADGEN)
        .config_flag(env)
        .args(["--tenants", TENANT, "--datasets", DATASET, "--signals", "traces"])
        .args(["--hours", "10", "--files-per-hour", "2", "--rows-per-file", "20", "--seed", "3"])
        .args(["--end-time", end.as_str()])
        .test_env(env)
        .run();
    out.assert_success();
}

pub fn traces() -> TableId {
    TableId::new(TENANT, DATASET, TableKind::Traces).unwrap()
}

pub async fn location(env: &TestEnv, id: &TableId) -> String {
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    table.metadata().location().to_string()
}

/// The orphan-cleanup details of table `id` in the first report of a `--json` document.
#[track_caller]
fn details<'a>(doc: &'a Value, id: &TableId) -> &'a Value {
    &table_entry(doc, id)["details"]
}

#[tokio::test]
async fn an_abandoned_file_is_removed_only_after_the_grace_period() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config("[compactor.orphan_cleanup]\ngrace_period_hours = 1");
    TRACES.run(&env);
    let id = traces();
    let orphan =
        format!("{}/data/hour=2026-01-15-12/00000-0-abandoned.parquet", location(&env, &id).await);
    let warehouse = env.warehouse();
    plant(&warehouse, &orphan, b"half-written by a job that died").await;

    backdate(&orphan, Duration::from_secs(30 * 60));
    let doc = json_ok(&compactor(&env, &["orphans", "--json"]));
    let d = details(&doc, &id);
    assert_eq!([&d["skipped_by_grace"], &d["orphans"], &d["files_deleted"]], [1, 0, 0], "{d}");
    assert!(exists(&warehouse, &orphan).await, "younger than the grace period");

    backdate(&orphan, 5 * DAY);
    let out = compactor(&env, &["orphans", "--dry-run", "--json"]);
    let doc = json_ok(&out);
    assert_eq!(details(&doc, &id)["candidates"], serde_json::json!([orphan]), "{doc}");
    let identified =
        "[DRY-RUN] Identified 1 orphan files for tenant=acme dataset=prod table=traces";
    assert!(out.stderr.contains(identified), "{}", out.stderr);
    let would = format!("[DRY-RUN] Would delete: {orphan} (age=5days)");
    assert!(out.stderr.contains(&would), "{}", out.stderr);
    assert!(exists(&warehouse, &orphan).await, "a dry run deletes nothing");

    let before = stored(&warehouse, &location(&env, &id).await).await;
    let doc = json_ok(&compactor(&env, &["orphans", "--json"]));
    let d = details(&doc, &id);
    assert_eq!([&d["orphans"], &d["files_deleted"], &d["deletion_failures"]], [1, 1, 0], "{d}");
    assert_eq!(d["bytes_freed"], 31, "{d}");
    assert!(!exists(&warehouse, &orphan).await);
    let after = stored(&warehouse, &location(&env, &id).await).await;
    assert_eq!(before.len() - 1, after.len());
    let read = &read_by_hour(&env, &[&id])[&id.to_string()];
    assert_eq!(read.total_rows(), TRACES.rows_per_table());
}

#[tokio::test]
async fn files_of_every_live_snapshot_survive_however_old() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(
        "[compactor]\nmin_input_files = 2\n[compactor.orphan_cleanup]\ngrace_period_hours = 1",
    );
    TRACES.run(&env);
    let id = traces();
    // Compaction replaces every input: they stay reachable only from the older snapshots.
    json_ok(&compactor(&env, &["compact", "--json"]));
    let root = location(&env, &id).await;
    backdate_tree(&root, 40 * DAY);
    let warehouse = env.warehouse();
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let referenced = reachable(&warehouse, &table).await;
    assert!(table.metadata().snapshots().len() >= 3);
    assert_eq!(stored(&warehouse, &root).await, referenced);

    let doc = json_ok(&compactor(&env, &["orphans", "--json"]));
    assert_eq!(details(&doc, &id)["files_deleted"], 0, "{doc}");
    assert_eq!(stored(&warehouse, &root).await, referenced);

    // A clock 1000 hours on: every snapshot is past max_snapshot_age_hours (720) and still
    // keeps its files.
    let clock: Arc<dyn Clock> =
        Arc::new(ManualClock::new(chrono::Utc::now() + chrono::Duration::hours(1000)));
    let config = env.load_config();
    let handle = Arc::new(CatalogHandle::new(config.schema.clone(), warehouse.clone()));
    let settings = OrphanSettings::from(&config.compactor.orphan_cleanup);
    let pass = compactor::PassSettings::new(1, 1024);
    let job = orphan_cleanup_job(settings, handle, Arc::new(Metrics::new()), clock, pass);
    let report = job.run(&Scope::default(), &CancellationToken::new()).await;
    assert!(report.succeeded(), "{report:?}");
    let traces = report.tables.iter().find(|t| t.table == TableKind::Traces).unwrap();
    assert!(matches!(traces.details, Some(TableOutcome::OrphanCleanup(_))), "{traces:?}");
    // The `--json` form of the table's outcome.
    let d = &serde_json::to_value(&traces.details).unwrap();
    assert_eq!(d["snapshots_past_max_age"], d["snapshots"], "{d}");
    assert_eq!([&d["orphans"], &d["files_deleted"]], [0, 0], "{d}");
    assert_eq!(stored(&warehouse, &root).await, referenced);
    let read = &read_by_hour(&env, &[&id])[&id.to_string()];
    assert_eq!(read.total_rows(), TRACES.rows_per_table());
}

#[tokio::test]
async fn a_file_committed_between_scan_and_delete_survives_on_postgres_s3() {
    let Some(env) = TestEnv::new(Backend::PostgresS3).await else { return };
    let Some(_python) = require_python() else { return };
    TRACES.run(&env);
    let id = traces();
    let warehouse = env.warehouse();
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    // A copy of a live data file, then committed by a writer while cleanup is under way.
    let snapshot = table.metadata().current_snapshot().unwrap();
    let list = table.manifest_list_reader(snapshot).load().await.unwrap();
    let manifest = list.entries()[0].load_manifest(table.file_io()).await.unwrap();
    let original = manifest.entries()[0].data_file().clone();
    let late = original.file_path().replace(".parquet", "-late.parquet");
    let bytes = table.file_io().new_input(original.file_path()).unwrap().read().await.unwrap();
    plant(&warehouse, &late, &bytes).await;
    let doomed = format!("{}/data/stray.parquet", table.metadata().location());
    plant(&warehouse, &doomed, b"stray").await;

    // moto cannot back-date objects: the clock moves forward instead.
    let clock = Arc::new(ManualClock::new(chrono::Utc::now() + chrono::Duration::hours(25)));
    let config = env.load_config();
    let settings = OrphanSettings::from(&config.compactor.orphan_cleanup);
    let step = OrphanCleanupStep::new(settings, clock);
    let pass = step.prepare(&catalog, false).await.unwrap();
    let (scope, cancel) = (Scope::default(), CancellationToken::new());
    let cx = TableContext::new(&id, &table, &catalog, &scope, &cancel);
    let mut report = OrphanReport::default();
    let plan = step.plan(&pass, &cx, &mut report).await.unwrap();
    assert_eq!(plan.candidates.len(), 2, "{report:?}");

    let file = DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(late.clone())
        .file_format(DataFileFormat::Parquet)
        .partition(original.partition().clone())
        .partition_spec_id(list.entries()[0].partition_spec_id)
        .record_count(original.record_count())
        .file_size_in_bytes(bytes.len() as u64)
        .build()
        .unwrap();
    let tx = Transaction::new(&table);
    let tx = tx.fast_append().add_data_files(vec![file]).apply(tx).unwrap();
    tx.commit(catalog.catalog()).await.unwrap();

    step.execute(&pass, &cx, plan, &mut report).await.unwrap();
    assert_eq!(report.deletion.kept_by_revalidation, 1, "{report:?}");
    assert_eq!(report.deletion.files_deleted, 1, "{report:?}");
    assert!(exists(&warehouse, &late).await);
    assert!(!exists(&warehouse, &doomed).await);
    let checkpoints = StateStore::open(&catalog).await.unwrap().checkpoints();
    assert_eq!(checkpoints.load(&id.ident()).await.unwrap(), None, "finished runs clear their row");
    let read = &read_by_hour(&env, &[&id])[&id.to_string()];
    assert_eq!(read.total_rows(), TRACES.rows_per_table() + original.record_count());
}

#[tokio::test]
async fn nothing_outside_the_table_location_is_touched() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    env.append_config("[compactor.orphan_cleanup]\ngrace_period_hours = 1");
    TRACES.run(&env);
    let out = BinCommand::new(LOADGEN)
        .config_flag(&env)
        .args(["--tenants", "other", "--datasets", DATASET, "--signals", "traces"])
        .args(["--hours", "1", "--files-per-hour", "1", "--rows-per-file", "10", "--seed", "1"])
        .test_env(&env)
        .run();
    out.assert_success();
    let id = traces();
    let other = TableId::new("other", DATASET, TableKind::Traces).unwrap();
    let (root, other_root) = (location(&env, &id).await, location(&env, &other).await);
    let warehouse = env.warehouse();
    let orphan = format!("{root}/data/orphan.parquet");
    let outside = [
        format!("{root}_old/data/look-alike.parquet"),
        format!("{}/stray.parquet", root.rsplit_once('/').unwrap().0),
        format!("{other_root}/data/other-tenant-orphan.parquet"),
    ];
    for l in outside.iter().chain([&orphan]) {
        plant(&warehouse, l, b"x").await;
        backdate(l, 3 * DAY);
    }

    let doc = json_ok(&compactor(&env, &["orphans", "--tenant", TENANT, "--json"]));
    let tables = doc["reports"][0]["tables"].as_array().unwrap();
    assert!(tables.iter().all(|t| t["tenant"] == TENANT), "{doc}");
    assert_eq!(details(&doc, &id)["files_deleted"], 1, "{doc}");
    assert!(!exists(&warehouse, &orphan).await);
    for l in &outside {
        assert!(exists(&warehouse, l).await, "{l} was touched");
    }

    // A table nested inside `traces` makes both refuse: neither listing can tell whose files
    // it sees. Nothing is deleted anywhere.
    let catalog = env.catalog().await;
    let shadow = iceberg::TableCreation::builder()
        .name("shadow".into())
        .location(format!("{root}/data/shadow"))
        .schema(common::tables::schema(TableKind::Traces).unwrap())
        .build();
    catalog.catalog().create_table(&id.namespace(), shadow).await.unwrap();
    let orphan = format!("{root}/data/second-orphan.parquet");
    plant(&warehouse, &orphan, b"x").await;
    backdate(&orphan, 3 * DAY);
    let out = compactor(&env, &["orphans", "--tenant", TENANT, "--json"]);
    out.assert_failure();
    let error = table_entry(&out.json(), &id)["error"].as_str().unwrap().to_string();
    assert!(error.contains("acme.prod.traces") && error.contains("acme.prod.shadow"), "{error}");
    assert!(exists(&warehouse, &orphan).await);
    for l in &outside {
        assert!(exists(&warehouse, l).await, "{l} was touched");
    }
}

#[tokio::test]
async fn a_killed_cleanup_resumes_from_its_checkpoint() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    env.append_config(
        "[compactor]\nlease_ttl_secs = 2\nlease_renew_interval_secs = 1\n\
         [compactor.orphan_cleanup]\ngrace_period_hours = 1\nbatch_size = 1",
    );
    TRACES.run(&env);
    let id = traces();
    let root = location(&env, &id).await;
    let warehouse = env.warehouse();
    let live = stored(&warehouse, &root).await;
    let orphans: Vec<String> =
        (0..600).map(|i| format!("{root}/data/junk/orphan-{i:04}.parquet")).collect();
    for o in &orphans {
        plant(&warehouse, o, b"junk").await;
    }
    backdate_tree(&format!("{root}/data/junk"), 2 * DAY);

    let catalog = env.catalog().await;
    let checkpoints = StateStore::open(&catalog).await.unwrap().checkpoints();
    let mut child = BinCommand::new(COMPACTOR).args(["orphans", "--json"]).test_env(&env).spawn();
    let deadline = Instant::now() + Duration::from_secs(120);
    let checkpoint = loop {
        if let Ok(Some(c)) = checkpoints.load(&id.ident()).await
            && c.files_deleted >= 5
        {
            child.signal("KILL");
            break c;
        }
        assert!(child.is_running(), "the cleanup finished before it could be killed");
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let _ = child.wait();
    let killed_at = Instant::now();
    let recorded = checkpoints.load(&id.ident()).await.unwrap().expect("the checkpoint survives");
    assert_eq!(recorded.run_id, checkpoint.run_id);
    let left = stored(&warehouse, &root).await;
    assert!(live.is_subset(&left), "a live file was deleted");
    let junk_left: Vec<&String> = left.difference(&live).collect();
    assert!(!junk_left.is_empty() && junk_left.len() < orphans.len(), "{}", junk_left.len());
    assert!(junk_left.iter().all(|p| **p > recorded.last_path), "done paths are gone");

    // The dead instance's lease holds the table until its TTL: a run now skips it, naming
    // the holder; once it expired, the next run takes the table over.
    let doc = json_ok(&compactor(&env, &["orphans", "--json"]));
    if killed_at.elapsed() < Duration::from_millis(1500) {
        let skipped = &table_entry(&doc, &id)["skipped"];
        assert!(skipped["held_by"].is_string() && skipped["job"] == "orphan_cleanup", "{doc}");
        assert_eq!(stored(&warehouse, &root).await, left, "a skipped table is left alone");
    }
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(killed_at.elapsed())).await;
    let doc = json_ok(&compactor(&env, &["orphans", "--json"]));
    let d = details(&doc, &id);
    assert_eq!(d["resumed_from_checkpoint"]["run_id"], recorded.run_id.as_str(), "{d}");
    assert_eq!(d["files_deleted"], junk_left.len(), "{d}");
    assert_eq!(stored(&warehouse, &root).await, live);
    assert_eq!(checkpoints.load(&id.ident()).await.unwrap(), None);
}

#[tokio::test]
async fn after_the_whole_lifecycle_storage_holds_exactly_what_the_metadata_reaches() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(
        "[compactor]\nmin_input_files = 2\nquiet_period_secs = 0\n\
         [compactor.retention]\nenabled = true\ntraces_retention_days = 1\nsnapshots_to_keep = 1\n\
         [compactor.orphan_cleanup]\nenabled = true\ngrace_period_hours = 1\nlifecycle_pause_secs = 0",
    );
    load_hours_around_a_one_day_cutoff(&env);
    let id = traces();
    let before = read_by_hour(&env, &[&id]).remove(&id.to_string()).unwrap();
    json_ok(&compactor(&env, &["compact", "--json"]));
    let root = location(&env, &id).await;
    backdate_tree(&root, Duration::from_secs(2 * 3600));

    let doc = json_ok(&compactor(&env, &["run", "--once", "--json"]));
    let jobs: Vec<&str> =
        doc["reports"].as_array().unwrap().iter().map(|r| r["job"].as_str().unwrap()).collect();
    assert_eq!(jobs, ["compaction", "retention", "orphan_cleanup"], "{doc}");
    let cleanup = doc["reports"][2]["tables"].as_array().unwrap();
    let d = &cleanup.iter().find(|t| t["table"] == "traces").unwrap()["details"];
    assert!(d["files_deleted"].as_u64().unwrap() > 0, "{d}");

    let warehouse = env.warehouse();
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    assert_eq!(table.metadata().snapshots().len(), 1, "expired down to snapshots_to_keep");
    assert_eq!(stored(&warehouse, &root).await, reachable(&warehouse, &table).await);

    let after = read_by_hour(&env, &[&id]).remove(&id.to_string()).unwrap();
    let (kept, was) = (after.rows_per_hour(), before.rows_per_hour());
    assert!(!kept.is_empty() && kept.len() < was.len(), "{kept:?} of {was:?}");
    for (hour, rows) in &kept {
        assert_eq!(Some(rows), was.get(hour), "{hour}: every retained row is still read");
    }
    assert_eq!(kept.keys().last(), was.keys().last(), "the newest hours are retained");
}
