//! `compactor compact` on tables full of small files: every quiet hour ends up in the planned
//! number of files holding exactly the rows it held (compared by content, hour by hour, as
//! pyiceberg reads them), with one `replace` snapshot per table and pass; planning and dry runs change
//! nothing; a writer appending meanwhile loses nothing; a corrupt input fails its group alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::TableKind;
use common::tables::TableId;
use iceberg::Catalog;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::{Value, json};
use tests_integration::duckdb_read::duckdb_scans;
use tests_integration::iceberg_read::{list_locations, rows_per_hour};
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::{Backend, BinCommand, TestEnv, require_python};

use super::{
    COMPACTOR, DATASET, Executed, LOADGEN, Load, TENANT, assert_linear_history, candidates,
    compacted_on_storage, compactor, executed, file_name, json_ok, table_entry, wait_for_appends,
};

/// Lets partitions of 3 or more small files be compacted (the default needs 5).
const CONFIG: &str = "[compactor]\nmin_input_files = 3";

/// 3 quiet hours of 6 files of 200 rows in `traces` and `logs`: 18 files per table, which
/// compaction turns into 3.
const SMALL_FILES: Load = Load {
    signals: &[TableKind::Traces, TableKind::Logs],
    hours: 3,
    files_per_hour: 6,
    rows_per_file: 200,
};

#[tokio::test]
async fn compaction_keeps_every_row_on_sqlite_local() {
    compaction_keeps_every_row(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn compaction_keeps_every_row_on_postgres() {
    compaction_keeps_every_row(Backend::Postgres).await;
}

#[tokio::test]
async fn compaction_keeps_every_row_on_s3() {
    compaction_keeps_every_row(Backend::S3).await;
}

/// 18 small files per table become the 3 the plan announced in one `replace` snapshot,
/// with the same rows in every hour for pyiceberg, iceberg-rust and DuckDB, which also still
/// reads the snapshot before the pass from its input files; a second pass has nothing to do.
async fn compaction_keeps_every_row(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(CONFIG);
    let ids = SMALL_FILES.run(&env);
    let hours = SMALL_FILES.hour_labels();
    let before = read_by_hour(&env, &ids);
    for (key, table) in &before {
        for hour in &hours {
            assert_eq!(table.files_of(hour).len(), 6, "{key} {hour}: {:?}", table.files);
        }
    }

    let out = compactor(&env, &["compact", "--json"]);
    let doc = json_ok(&out);
    // Each committed partition is logged once, each fact of the line stated once.
    let lines: Vec<&str> =
        out.stderr.lines().filter(|l| l.contains("Compacted partition: ")).collect();
    assert_eq!(lines.len(), ids.len() * hours.len(), "{}", out.stderr);
    for line in &lines {
        for key in ["tenant=", "dataset=", "table=", "hour=", "files_in=", "files_out=", "rows="] {
            assert_eq!(line.matches(key).count(), 1, "{key} in `{line}`");
        }
        assert!(line.contains("files_in=6 files_out=1"), "{line}");
    }
    let after = read_by_hour(&env, &ids);
    let catalog = env.catalog().await;
    // DuckDB reads each table's new metadata file at its current snapshot and at the one that
    // was current before the pass, all in one process.
    let scans: Vec<(&str, Option<i64>)> = ids
        .iter()
        .flat_map(|id| {
            let (b, a) = (&before[&id.to_string()], &after[&id.to_string()]);
            let pinned = b.snapshots.last().expect("the loadgen's appends").snapshot_id;
            [(a.metadata_location(), None), (a.metadata_location(), Some(pinned))]
        })
        .collect();
    let duck = duckdb_scans(&env, &scans);
    for (id, duck) in ids.iter().zip(duck.chunks(2)) {
        let key = id.to_string();
        let (b, a) = (&before[&key], &after[&key]);
        let entry = table_entry(&doc, id);
        assert_eq!(entry["error"], Value::Null, "{entry}");
        let details = &entry["details"];
        let plan = candidates(details);
        assert_eq!(plan.iter().map(|c| &c.label).collect::<Vec<_>>(), Vec::from_iter(&hours));
        assert_eq!([&details["files_before"], &details["files_after"]], [18, 3], "{key}");
        let groups = executed(details);
        assert_eq!(groups.len(), plan.iter().map(|c| c.groups.len()).sum::<usize>(), "{key}");
        assert!(groups.iter().all(Executed::committed), "{key}: {groups:?}");
        assert_eq!(details["execution"]["groups_committed"], groups.len(), "{details}");
        assert_eq!(details["execution"]["groups_abandoned"], 0, "{details}");

        // The same rows, hour by hour.
        assert_eq!(a.read["rows_sha256"], b.read["rows_sha256"], "{key}");
        assert_eq!(a.read["rows_per_hour"], b.read["rows_per_hour"], "{key}");
        assert_eq!(a.content, b.content, "{key}: rows of each hour");

        // As many files as planned: the inputs replaced by compacted files, which are the only
        // compacted files on storage; the inputs stay there for readers of older snapshots.
        assert_eq!(a.read["live_data_files"], details["files_after"], "{key}");
        for c in &plan {
            let live = a.files_of(&c.label);
            assert_eq!(live.len(), c.files_after, "{key} {}: {live:?}", c.label);
            assert!(live.iter().all(|f| file_name(f).starts_with("compacted-")), "{live:?}");
            assert_eq!(compacted_on_storage(&env, id, c.hour).await, live, "{key} {}", c.label);
            let inputs: BTreeSet<String> = c.groups.iter().flatten().cloned().collect();
            assert_eq!(inputs, b.files_of(&c.label), "{key} {}: every file was an input", c.label);
        }
        let written: usize = groups.iter().map(|g| g.files_out).sum();
        assert_eq!(written, 3, "{key}: {groups:?}");

        // One `replace` snapshot for every group of the pass, on top of the loadgen's appends.
        assert_eq!(a.snapshots[..b.snapshots.len()], b.snapshots[..], "{key}");
        let new = &a.snapshots[b.snapshots.len()..];
        assert!(new.iter().all(|s| s.operation == "replace"), "{key}: {new:?}");
        assert_eq!(new.len(), 1, "{key}: one commit per table and pass: {new:?}");
        let new_ids: BTreeSet<i64> = new.iter().map(|s| s.snapshot_id).collect();
        let committed_ids: BTreeSet<i64> = groups.iter().filter_map(|g| g.snapshot_id).collect();
        assert_eq!(new_ids, committed_ids, "{key}");
        assert_linear_history(&key, a);

        // iceberg-rust reads the same table and the same rows.
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        assert_eq!(table.metadata_location(), Some(a.metadata_location()), "{key}");
        assert_eq!(rows_per_hour(&table).await.unwrap(), b.rows_per_hour(), "{key}");

        // So does DuckDB, from the compacted files; at the snapshot before the pass it reads
        // the same rows from the input files, which are still there.
        let (now, then) = (&duck[0], &duck[1]);
        assert_eq!(now.rows_per_hour, a.rows_per_hour(), "{key}: DuckDB now");
        assert_eq!([now.total_rows, now.rows_read()], [a.total_rows(); 2], "{key}: DuckDB now");
        assert_eq!(now.files_per_hour, a.files, "{key}: DuckDB reads the compacted files");
        assert_eq!(then.rows_per_hour, b.rows_per_hour(), "{key}: DuckDB then");
        assert_eq!([then.total_rows, then.rows_read()], [b.total_rows(); 2], "{key}: DuckDB then");
        assert_eq!(then.files_per_hour, b.files, "{key}: DuckDB reads the inputs");
    }

    // A second pass finds nothing to do and commits nothing.
    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    for id in &ids {
        let details = &table_entry(&doc, id)["details"];
        assert_eq!(details["candidates"], json!([]), "{id}: {details}");
        assert!(executed(details).is_empty(), "{id}: {details}");
        let reasons: Vec<&Value> = details["skipped"].as_array().unwrap().iter().collect();
        assert_eq!(reasons.len(), hours.len(), "{details}");
        assert!(reasons.iter().all(|s| s["reason"] == "too_few_small_files"), "{details}");
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        let location = after[&id.to_string()].metadata_location();
        assert_eq!(table.metadata_location(), Some(location), "{id}");
    }
}

/// Every table's metadata location and every object in the warehouse.
async fn warehouse_state(
    env: &TestEnv,
    ids: &[TableId],
) -> (BTreeMap<String, String>, Vec<String>) {
    let catalog = env.catalog().await;
    let mut locations = BTreeMap::new();
    for id in ids {
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        locations.insert(id.to_string(), table.metadata_location().unwrap().to_string());
    }
    let objects = list_locations(catalog.warehouse(), env.warehouse_uri()).await.unwrap();
    (locations, objects)
}

/// `compactor plan`, `compact --dry-run` and `dry_run = true` report the plan and change
/// nothing: no commit, no file written.
#[tokio::test]
async fn plan_and_dry_runs_change_nothing() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    env.append_config(CONFIG);
    let ids = SMALL_FILES.run(&env);
    let before = warehouse_state(&env, &ids).await;
    assert!(before.1.iter().any(|o| o.ends_with(".parquet")), "{:?}", before.1);

    let plan = json_ok(&compactor(&env, &["plan", "--json"]));
    assert_eq!(plan["reports"][0]["dry_run"], true, "{plan}");
    for id in &ids {
        let details = &table_entry(&plan, id)["details"];
        assert_eq!(candidates(details).len(), SMALL_FILES.hours as usize, "{id}: {details}");
    }
    assert_eq!(warehouse_state(&env, &ids).await, before, "after compactor plan");

    let out = compactor(&env, &["plan"]);
    out.assert_success();
    assert!(out.stdout.contains("nothing was changed"), "{}", out.streams());
    assert_eq!(warehouse_state(&env, &ids).await, before, "after compactor plan (text)");

    let dry_flag = compactor(&env, &["compact", "--dry-run", "--json"]);
    let dry_config = BinCommand::new(COMPACTOR)
        .args(["compact", "--json"])
        .test_env(&env)
        .env("SIGNALDB_COMPACTOR_DRY_RUN", "true")
        .run();
    for (what, out) in [("--dry-run", dry_flag), ("dry_run = true", dry_config)] {
        let doc = json_ok(&out);
        assert_eq!(doc["reports"][0]["dry_run"], true, "{what}: {doc}");
        for id in &ids {
            let details = &table_entry(&doc, id)["details"];
            assert_eq!(details, &table_entry(&plan, id)["details"], "{what}: {id}: the same plan");
            assert!(details.get("execution").is_none(), "{what}: {details}");
        }
        assert_eq!(warehouse_state(&env, &ids).await, before, "after {what}");
    }
}

/// `signaldb-loadgen --continuous` appends to the current hour of the same tables while
/// compaction rewrites the quiet hours, several passes in a row: the commits race, and no row,
/// snapshot or file is lost on either side. A group that loses every commit attempt (5) to the
/// writer is abandoned with its partition as it was and its new files deleted.
#[tokio::test]
async fn a_concurrent_writer_loses_nothing() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(CONFIG);
    let backdated = Load { files_per_hour: 4, rows_per_file: 50, ..SMALL_FILES };
    let ids = backdated.run(&env);
    let before = read_by_hour(&env, &ids);

    let mut writer = BinCommand::new(LOADGEN)
        .config_flag(&env)
        .args(["--tenants", TENANT, "--datasets", DATASET, "--signals", "traces,logs"])
        .args(["--hours", "0", "--rows-per-file", "20", "--seed", "7"])
        .args(["--continuous", "--interval-ms", "100", "--json"])
        .test_env(&env)
        .spawn();
    let snapshots = before.iter().map(|(k, t)| (k.clone(), t.snapshots.len())).collect();
    wait_for_appends(&env, &ids, &snapshots).await;

    // One table at a time, then both (retrying whatever was given up): every pass commits
    // while the writer keeps committing.
    let passes: [&[&str]; 3] = [
        &["compact", "--signal", "traces", "--json"],
        &["compact", "--signal", "logs", "--json"],
        &["compact", "--json"],
    ];
    let mut planned: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<Executed>> = BTreeMap::new();
    let mut conflicts = 0;
    for args in passes {
        let doc = json_ok(&compactor(&env, args));
        for id in &ids {
            let Some(entry) = doc["reports"][0]["tables"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["table"] == id.table.as_str())
            else {
                continue;
            };
            let details = &entry["details"];
            for c in candidates(details) {
                planned.entry(id.to_string()).or_default().insert(c.label, c.files_after);
            }
            groups.entry(id.to_string()).or_default().extend(executed(details));
            conflicts += details["execution"]["conflicts"].as_u64().unwrap_or(0);
        }
    }
    assert!(writer.is_running(), "the writer stopped while compaction ran");
    writer.terminate();
    let out = writer.wait_timeout(Duration::from_secs(30));
    out.assert_success();
    let summary = out.json();
    assert_eq!(summary["interrupted"], false, "{summary}");

    let committed = groups.values().flatten().filter(|g| g.committed()).count();
    let total = groups.values().map(Vec::len).sum::<usize>();
    eprintln!(
        "a_concurrent_writer_loses_nothing: {committed} of {total} group(s) committed, \
         {conflicts} commit conflict(s)"
    );
    assert!(committed > 0, "no group was committed while the writer ran: {groups:?}");

    let after = read_by_hour(&env, &ids);
    for id in &ids {
        let key = id.to_string();
        let (b, a) = (&before[&key], &after[&key]);
        let written = summary["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["signal"] == id.table.as_str())
            .unwrap_or_else(|| panic!("{id} not in the writer's summary {summary}"));
        let (rows, appends) = (written["rows"].as_u64().unwrap(), written["snapshots"].as_u64());
        assert!(rows > 0, "{summary}");

        // Every row: the back-dated hours exactly as they were, the writer's rows elsewhere.
        assert_eq!(a.total_rows(), b.total_rows() + rows, "{key}");
        for hour in backdated.hour_labels() {
            assert_eq!(a.content.get(&hour), b.content.get(&hour), "{key} {hour}");
        }
        let new_rows: u64 = a
            .content
            .iter()
            .filter(|(hour, _)| !b.content.contains_key(*hour))
            .map(|(_, c)| c.rows)
            .sum();
        assert_eq!(new_rows, rows, "{key}: the writer's rows, in the current hour");

        // Every quiet hour planned; each group committed once, or given up after losing every
        // commit attempt to the writer, its files deleted and its partition as it was.
        let plan = planned.get(&key).cloned().unwrap_or_default();
        assert_eq!(plan.keys().cloned().collect::<Vec<_>>(), backdated.hour_labels(), "{key}");
        let done = &groups[&key];
        for g in done.iter().filter(|g| !g.committed()) {
            assert_eq!((g.status.as_str(), g.kind.as_str()), ("abandoned", "conflicts_exhausted"));
        }
        for (hour, files_after) in &plan {
            let of_hour: Vec<&Executed> = done.iter().filter(|g| &g.label == hour).collect();
            let live = a.files_of(hour);
            match of_hour.iter().filter(|g| g.committed()).count() {
                0 => assert_eq!(live, b.files_of(hour), "{key} {hour}: {of_hour:?}"),
                1 => assert_eq!(live.len(), *files_after, "{key} {hour}"),
                n => panic!("{key} {hour} compacted {n} times: {of_hour:?}"),
            }
            let compacted: BTreeSet<String> =
                live.iter().filter(|f| file_name(f).starts_with("compacted-")).cloned().collect();
            let on_storage = compacted_on_storage(&env, id, of_hour[0].hour).await;
            assert_eq!(on_storage, compacted, "{key} {hour}: no abandoned file left");
        }
        let committed: Vec<&Executed> = done.iter().filter(|g| g.committed()).collect();

        // Every snapshot: the writer's appends and the pass's replace, in one line.
        let commits: BTreeSet<i64> = committed.iter().filter_map(|g| g.snapshot_id).collect();
        assert!(commits.len() <= 1, "{key}: one commit per table and pass: {commits:?}");
        let replaced = a.snapshots.iter().filter(|s| s.operation == "replace").count();
        assert_eq!(replaced, commits.len(), "{key}");
        let expected = b.snapshots.len() as u64 + appends.unwrap() + commits.len() as u64;
        assert_eq!(a.snapshots.len() as u64, expected, "{key}");
        assert_linear_history(&key, a);
    }
}

/// An unreadable input file fails its group, with an error naming the file: that partition
/// keeps its files and gets no compacted file, every other partition is compacted, and once
/// the file is repaired nothing was lost and the next pass compacts it.
#[tokio::test]
async fn a_corrupt_input_fails_its_partition_only() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(CONFIG);
    let load = Load { files_per_hour: 4, rows_per_file: 100, ..SMALL_FILES };
    let ids = load.run(&env);
    let before = read_by_hour(&env, &ids);
    let logs = TableId::new(TENANT, DATASET, TableKind::Logs).unwrap();
    let traces = TableId::new(TENANT, DATASET, TableKind::Traces).unwrap();

    // The last input of the middle hour's group: the group has written output when it fails.
    let plan = json_ok(&compactor(&env, &["plan", "--json"]));
    let planned = candidates(&table_entry(&plan, &logs)["details"]);
    assert_eq!(planned.len(), 3, "{plan}");
    let broken = planned[1].clone();
    let victim = broken.groups[0].last().unwrap().clone();
    let warehouse = env.warehouse();
    let path = warehouse.object_path(&victim).unwrap();
    let store = warehouse.object_store();
    let original = store.get(&path).await.unwrap().bytes().await.unwrap();
    store.put(&path, PutPayload::from(vec![0x5a; original.len()])).await.unwrap();

    let out = compactor(&env, &["compact", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.streams());
    let doc = out.json();
    assert_eq!(doc["failures"], 1, "{doc}");
    let entry = table_entry(&doc, &logs);
    let error = entry["error"].as_str().unwrap_or_else(|| panic!("logs did not fail: {entry}"));
    assert!(error.contains(&victim), "the error names {victim}: {error}");
    let groups = executed(&entry["details"]);
    if !groups.is_empty() {
        for g in &groups {
            if g.label == broken.label {
                assert_eq!((g.status.as_str(), g.kind.as_str()), ("abandoned", "read"), "{g:?}");
                assert!(g.reason.contains(&victim), "{g:?}");
            } else {
                assert!(g.committed(), "{g:?}");
            }
        }
    }
    let entry = table_entry(&doc, &traces);
    assert_eq!(entry["error"], Value::Null, "{entry}");
    assert!(executed(&entry["details"]).iter().all(Executed::committed), "{entry}");

    assert_eq!(compacted_on_storage(&env, &logs, broken.hour).await, BTreeSet::new());

    // Repaired, the table holds every row it held; only the broken hour kept its files.
    store.put(&path, PutPayload::from(original)).await.unwrap();
    let after = read_by_hour(&env, &ids);
    for id in &ids {
        let key = id.to_string();
        let (b, a) = (&before[&key], &after[&key]);
        assert_eq!(a.content, b.content, "{key}");
        for hour in load.hour_labels() {
            if *id == logs && hour == broken.label {
                assert_eq!(a.files_of(&hour), b.files_of(&hour), "{key} {hour} left alone");
            } else {
                let live = a.files_of(&hour);
                assert_eq!(live.len(), 1, "{key} {hour} compacted: {live:?}");
                assert!(file_name(live.first().unwrap()).starts_with("compacted-"), "{live:?}");
            }
        }
    }

    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    let details = &table_entry(&doc, &logs)["details"];
    let labels: Vec<String> = candidates(details).into_iter().map(|c| c.label).collect();
    assert_eq!(labels, std::slice::from_ref(&broken.label), "{details}");
    assert!(executed(details).iter().all(Executed::committed), "{details}");
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&logs.ident()).await.unwrap();
    assert_eq!(rows_per_hour(&table).await.unwrap(), before[&logs.to_string()].rows_per_hour());
}

/// Two passes started together race for the same groups: each partition is replaced once, the
/// loser's rewrite is abandoned and its files deleted, and every row is still there.
#[tokio::test]
async fn racing_compactors_replace_each_partition_once() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(CONFIG);
    let load = Load { hours: 4, files_per_hour: 4, rows_per_file: 50, ..SMALL_FILES };
    let ids = load.run(&env);
    let before = read_by_hour(&env, &ids);

    let start = || {
        BinCommand::new(COMPACTOR)
            .args(["compact", "--json"])
            .test_env(&env)
            .env("RUST_LOG", "info")
            .spawn()
    };
    let (first, second) = (start(), start());
    let outs = [first.wait(), second.wait()];
    let mut groups: BTreeMap<String, Vec<Executed>> = BTreeMap::new();
    for out in &outs {
        // Losing a race is not a failure: the other pass did the work.
        let doc = json_ok(out);
        for id in &ids {
            let entry = table_entry(&doc, id);
            let details = &entry["details"];
            groups.entry(id.to_string()).or_default().extend(executed(details));
        }
    }

    let after = read_by_hour(&env, &ids);
    for id in &ids {
        let key = id.to_string();
        let (b, a) = (&before[&key], &after[&key]);
        assert_eq!(a.content, b.content, "{key}");
        let done = &groups[&key];
        for hour in load.hour_labels() {
            let of_hour: Vec<&Executed> = done.iter().filter(|g| g.label == hour).collect();
            let committed = of_hour.iter().filter(|g| g.committed()).count();
            assert_eq!(committed, 1, "{key} {hour}: {of_hour:?}");
            for g in of_hour.iter().filter(|g| !g.committed()) {
                assert_eq!(
                    (g.status.as_str(), g.kind.as_str()),
                    ("abandoned", "files_no_longer_live")
                );
                assert_eq!(g.files_in, 4, "{g:?}");
            }
            // The loser's files are deleted: the live file is the only compacted one.
            let live = a.files_of(&hour);
            assert_eq!(live.len(), 1, "{key} {hour}: {live:?}");
            let on_storage = compacted_on_storage(&env, id, of_hour[0].hour).await;
            assert_eq!(on_storage, live, "{key} {hour}");
        }
        // Each compactor commits its surviving groups together: one replace per winner.
        let commits: BTreeSet<i64> =
            done.iter().filter(|g| g.committed()).filter_map(|g| g.snapshot_id).collect();
        let replaced = a.snapshots.iter().filter(|s| s.operation == "replace").count();
        assert_eq!(replaced, commits.len(), "{key}");
        assert!((1..=3).contains(&replaced), "{key}: at most one commit per compactor");
        assert_linear_history(&key, a);
    }
    let abandoned: usize = groups.values().flatten().filter(|g| !g.committed()).count();
    eprintln!("racing compactors: {abandoned} group(s) abandoned");
}
