//! A warehouse laid out the way SignalDB's own writer lays it out — eight tables per dataset,
//! the `timestamp_hour` partition beside a plain `hour` column, map columns, writer properties
//! and traces evolved from v2 to v3 half-way through every hour, written by pyiceberg in many
//! small appends — is maintained like the classic layout: every table planned and compacted
//! to one file per hour with the same rows, every property kept byte for byte, traces sorted
//! by its own order, retention by each table's signal, orphan cleanup keeping exactly the live
//! files, and `status` healthy.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use common::TableKind;
use common::partition::{hour_label, hour_of_micros};
use common::tables::TableId;
use iceberg::Catalog;
use iceberg::TableIdent;
use serde_json::Value;
use tests_integration::duckdb_read::{duckdb_scans, duckdb_scans_hashed};
use tests_integration::orphans::{backdate_tree, exists, plant, reachable, stored};
use tests_integration::pyiceberg::run_pyiceberg;
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::signaldb_layout::{
    SignalDbLayout, signaldb_table_idents, write_signaldb_warehouse,
};
use tests_integration::{Backend, TestEnv, require_python};

use super::sorted_output::{assert_sorted_hours, plan_columns};
use super::{compactor, json_ok};

/// Hours of data written, each in `APPENDS` small files.
const HOURS: i64 = 4;
const APPENDS: u32 = 8;
/// Rows per append.
const ROWS: u32 = 40;
/// The data is this many days old: past traces' (7) and logs' (3) retention, within metrics'
/// (30) and, as configured here, profiles' (20).
const AGE_DAYS: i64 = 10;
const CONFIG: &str = "[compactor]\nmin_input_files = 3\n\
                      [compactor.retention]\nenabled = true\nprofiles_retention_days = 20\n\
                      [compactor.orphan_cleanup]\nenabled = true\ngrace_period_hours = 1";

#[tokio::test]
async fn signaldb_layout_is_maintained_on_sqlite_local() {
    signaldb_layout_is_maintained(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn signaldb_layout_is_maintained_on_postgres_s3() {
    signaldb_layout_is_maintained(Backend::PostgresS3).await;
}

/// The entry of `ident` (`tenant.dataset.table`) in the first report of a `--json` document.
#[track_caller]
fn entry<'a>(doc: &'a Value, ident: &str) -> &'a Value {
    let tables = doc["reports"][0]["tables"].as_array().unwrap_or_else(|| panic!("{doc}"));
    tables
        .iter()
        .find(|t| {
            format!(
                "{}.{}.{}",
                t["tenant"].as_str().unwrap(),
                t["dataset"].as_str().unwrap(),
                t["table"].as_str().unwrap()
            ) == ident
        })
        .unwrap_or_else(|| panic!("{ident} is not in {doc}"))
}

async fn signaldb_layout_is_maintained(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(CONFIG);
    let last = hour_of_micros(Utc::now().timestamp_micros()) - AGE_DAYS * 24;
    let hours: Vec<String> = (last - HOURS + 1..=last).map(hour_label).collect();
    write_signaldb_warehouse(&env, &["acme"], &["prod"], last - HOURS + 1..=last, APPENDS, ROWS, 7);
    let idents = signaldb_table_idents(&["acme"], &["prod"]);
    assert_eq!(idents.len(), TableKind::SIGNALDB.len());
    let before = run_pyiceberg(&env, &idents);
    let before_hours = read_by_hour(&env, &idents);
    for ident in &idents {
        let t = &before["tables"][ident];
        assert_eq!(t["live_data_files"], HOURS * i64::from(APPENDS), "{ident}: {t}");
        assert!(
            t["properties"]
                .as_object()
                .is_some_and(|p| p.keys().any(|k| k.starts_with("signaldb.wal.committed."))),
            "{ident}: {t}"
        );
    }

    // Every table is planned, each of its closed hours a candidate; nothing is uninterpretable.
    let plan = json_ok(&compactor(&env, &["plan", "--json"]));
    let listed = plan["reports"][0]["tables"].as_array().unwrap();
    assert_eq!(listed.len(), TableKind::SIGNALDB.len(), "{plan}");
    for ident in &idents {
        let d = &entry(&plan, ident)["details"];
        let labels: Vec<&str> = d["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["hour_label"].as_str().unwrap())
            .collect();
        assert_eq!(labels, hours.iter().map(String::as_str).collect::<Vec<_>>(), "{ident}: {d}");
        assert_eq!(d["skipped"], serde_json::json!([]), "{ident}: {d}");
        assert!(d.get("not_maintainable").is_none(), "{ident}: {d}");
    }

    // One file per closed hour in each table, the same rows, every property as it was.
    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    let after = run_pyiceberg(&env, &idents);
    let after_hours = read_by_hour(&env, &idents);
    let catalog = env.catalog().await;
    for ident in &idents {
        let (b, a) = (&before["tables"][ident], &after["tables"][ident]);
        let d = &entry(&doc, ident)["details"];
        assert_eq!(d["execution"]["groups_abandoned"], 0, "{ident}: {d}");
        assert_eq!(a["live_data_files"], HOURS, "{ident}: {a}");
        assert_eq!(a["rows_sha256"], b["rows_sha256"], "{ident}");
        assert_eq!(a["rows_per_hour"], b["rows_per_hour"], "{ident}");
        assert_eq!(
            after_hours[ident].content, before_hours[ident].content,
            "{ident}: rows per hour"
        );
        assert_eq!(a["properties"], b["properties"], "{ident}: table properties");
        assert_eq!(a["partition_spec"], b["partition_spec"], "{ident}");
        for (hour, files) in &after_hours[ident].files {
            assert_eq!(files.len(), 1, "{ident} {hour}: {files:?}");
            let file = files.iter().next().unwrap();
            assert!(file.contains(&format!("/data/timestamp_hour={hour}/")), "{file}");
        }
        let table = catalog
            .catalog()
            .load_table(&TableIdent::from_strs(ident.split('.')).unwrap())
            .await
            .unwrap();
        let columns = plan_columns(d);
        if ident.ends_with(".traces") {
            let names: Vec<&str> = columns.iter().map(|(c, _, _)| c.as_str()).collect();
            assert_eq!(names, ["timestamp", "trace_id"], "traces follow their own sort order");
            assert_eq!(d["sort"]["sort_order_id"], 1, "{d}");
            let per_hour =
                assert_sorted_hours(ident, &table, &after_hours[ident], &columns, Some(1)).await;
            assert_eq!(per_hour.len(), hours.len());
            // Both schemas' rows are in the one file per hour, written in the current schema.
            let schema = table.metadata().current_schema();
            assert!(schema.field_by_name("dropped_links_count").is_some(), "{ident}: v3 schema");
        }
    }
    // DuckDB reads every compacted table at its new metadata: the rows of each hour pyiceberg
    // reads, and the same content digest.
    let locations: Vec<(&str, Option<i64>)> =
        idents.iter().map(|i| (after_hours[i].metadata_location(), None)).collect();
    for (ident, scan) in idents.iter().zip(duckdb_scans_hashed(&env, &locations)) {
        assert_eq!(scan.rows_per_hour, after_hours[ident].rows_per_hour(), "{ident}: DuckDB");
        let digest = scan.rows_sha256.as_deref().expect("--rows-hash digests");
        assert_eq!(Some(digest), before["tables"][ident]["rows_sha256"].as_str(), "{ident}");
    }

    // Retention evaluates every table with its signal's policy: traces and logs drop all four
    // hours, the metrics tables and profiles (20 days here) keep them.
    let kept_by = |ident: &str| ident.contains(".metrics_") || ident.ends_with(".profiles");
    let dry = json_ok(&compactor(&env, &["retention", "--dry-run", "--json"]));
    for ident in &idents {
        let d = &entry(&dry, ident)["details"];
        assert_eq!(d["partitions_evaluated"], HOURS, "{ident}: {d}");
        assert_eq!(d["skipped"], serde_json::json!([]), "{ident}: {d}");
        let signal = ident.rsplit('.').next().unwrap().split('_').next().unwrap();
        assert_eq!(d["policy"]["signal"], signal, "{ident}: {d}");
        let dropped = d["partitions_dropped"].as_array().unwrap().len() as i64;
        assert_eq!(dropped, if kept_by(ident) { 0 } else { HOURS }, "{ident}: {d}");
    }
    let profiles = &entry(&dry, "acme.prod.profiles")["details"]["policy"];
    assert_eq!((&profiles["days"], &profiles["tier"]), (&Value::from(20), &Value::from("global")));
    let wet = json_ok(&compactor(&env, &["retention", "--json"]));
    let retained = run_pyiceberg(&env, &idents);
    for ident in &idents {
        let d = &entry(&wet, ident)["details"];
        let t = &retained["tables"][ident];
        let expected =
            if kept_by(ident) { &after["tables"][ident]["total_rows"] } else { &Value::from(0) };
        assert_eq!(&t["total_rows"], expected, "{ident}: {d}");
        assert_eq!(
            t["properties"], before["tables"][ident]["properties"],
            "{ident}: properties after retention"
        );
    }

    // status: all eight healthy after the passes (expiration bounded their snapshots), none
    // unmaintainable.
    let status = compactor(&env, &["status", "--json"]).json();
    let tables = status["tables"].as_array().unwrap();
    assert_eq!(tables.len(), TableKind::SIGNALDB.len(), "{status}");
    for t in tables {
        assert_eq!(t["health"]["healthy"], true, "{t}");
        assert!(
            t["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|w| w["check"] != "table_not_maintainable"),
            "{t}"
        );
    }

    // Orphan cleanup keeps exactly the live files: an abandoned file and every file no kept
    // snapshot reaches go, every file a snapshot reaches stays.
    let warehouse = env.warehouse();
    let gauge = TableId::new("acme", "prod", TableKind::MetricsGauge).unwrap();
    let table = catalog.load_table(&gauge.ident()).await.unwrap();
    let root = table.metadata().location().to_string();
    let orphan = format!("{root}/data/timestamp_hour={}/00000-0-abandoned.parquet", hours[0]);
    plant(&warehouse, &orphan, b"left by a writer that died").await;
    let local = !matches!(backend, Backend::S3 | Backend::PostgresS3);
    if local {
        // Every file older than the grace period: the inputs compaction replaced and the
        // snapshots retention expired no longer reach are orphans as well.
        let warehouse_root = root.trim_end_matches("/metrics_gauge");
        backdate_tree(warehouse_root, Duration::from_secs(3 * 86_400));
    }
    let doc = json_ok(&compactor(&env, &["orphans", "--json"]));
    let mut left = BTreeMap::new();
    for ident in &idents {
        let id = TableId::from_ident(&TableIdent::from_strs(ident.split('.')).unwrap()).unwrap();
        let table = catalog.load_table(&id.ident()).await.unwrap();
        let referenced = reachable(&warehouse, &table).await;
        let on_storage = stored(&warehouse, table.metadata().location()).await;
        assert!(referenced.is_subset(&on_storage), "{ident}: a live file was deleted");
        left.insert(ident.clone(), on_storage.len() - referenced.len());
        let _ = entry(&doc, ident);
    }
    if local {
        assert!(!exists(&warehouse, &orphan).await, "the abandoned file is deleted");
        assert!(left.values().all(|&n| n == 0), "exactly the live files remain: {left:?}");
    } else {
        assert!(exists(&warehouse, &orphan).await, "younger than the grace period");
    }
    let status = compactor(&env, &["status", "--json"]).json();
    for t in status["tables"].as_array().unwrap() {
        assert_eq!(t["health"]["healthy"], true, "{t}");
    }
}

/// The partition spec of every live data file of `table`'s current snapshot, by path.
async fn live_file_specs(table: &iceberg::table::Table) -> BTreeMap<String, i32> {
    let snapshot = table.metadata().current_snapshot().expect("a written table has a snapshot");
    let list = table.manifest_list_reader(snapshot).load().await.unwrap();
    let mut out = BTreeMap::new();
    for manifest_file in list.entries() {
        let manifest = manifest_file.load_manifest(table.file_io()).await.unwrap();
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            out.insert(entry.file_path().to_string(), manifest_file.partition_spec_id);
        }
    }
    out
}

/// A table another engine moved from hourly to daily partitions keeps files of both specs;
/// compaction rewrites the hour files into the day that holds them, in the current spec,
/// with the same rows, and retention then sees one day.
#[tokio::test]
async fn files_of_an_older_partition_spec_are_rewritten_into_the_current_one() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(CONFIG);
    // Two hours of one day, ten days ago.
    let day_start = (hour_of_micros(Utc::now().timestamp_micros()) / 24 - AGE_DAYS) * 24;
    let mut layout =
        SignalDbLayout::new(&["acme"], &["prod"], day_start + 5..=day_start + 6, 4, 30, 3);
    layout.tables = vec!["logs".to_string()];
    layout.evolve_spec_to_day = true;
    let written = layout.write(&env);
    let ident = "acme.prod.logs";
    assert_eq!(written["tables"][ident]["spec_ids"], serde_json::json!([0, 1]), "{written}");
    let before = run_pyiceberg(&env, &[ident.to_string()]);
    let day = chrono::DateTime::from_timestamp(day_start * 3600, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();

    let plan = json_ok(&compactor(&env, &["plan", "--json"]));
    let d = &entry(&plan, ident)["details"];
    let c = &d["candidates"][0];
    assert_eq!(
        (&c["hour_label"], &c["spec_id"], &c["other_spec_files"]),
        (&Value::from(day.clone()), &Value::from(1), &Value::from(8)),
        "{d}"
    );
    assert_eq!(d["candidates"].as_array().unwrap().len(), 1, "{d}");
    let text = compactor(&env, &["plan"]);
    text.assert_success();
    assert!(text.stdout.contains("(8 file(s) of an older spec into spec 1)"), "{}", text.stdout);

    json_ok(&compactor(&env, &["compact", "--json"]));
    let after = run_pyiceberg(&env, &[ident.to_string()]);
    let (b, a) = (&before["tables"][ident], &after["tables"][ident]);
    assert_eq!(a["rows_sha256"], b["rows_sha256"]);
    assert_eq!(a["rows_per_hour"], b["rows_per_hour"]);
    assert_eq!(a["properties"], b["properties"]);
    let catalog = env.catalog().await;
    let id = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let table = catalog.load_table(&id.ident()).await.unwrap();
    let specs = live_file_specs(&table).await;
    assert_eq!(specs.len(), 1, "one file for the day: {specs:?}");
    for (path, spec) in &specs {
        assert_eq!(*spec, table.metadata().default_partition_spec_id(), "{path}");
        assert!(path.contains(&format!("/data/timestamp_day={day}/")), "{path}");
    }
    let duck = duckdb_scans(&env, &[(table.metadata_location().unwrap(), None)]);
    let rows: usize = duck[0].rows_per_hour.values().sum();
    assert_eq!(Value::from(rows), a["total_rows"], "DuckDB");

    let dry = json_ok(&compactor(&env, &["retention", "--dry-run", "--json"]));
    let d = &entry(&dry, ident)["details"];
    assert_eq!(d["partitions_evaluated"], 1, "{d}");
    assert_eq!(d["partitions_dropped"][0]["hour_label"], day, "{d}");
}
