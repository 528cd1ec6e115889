//! A commit whose compare-and-swap loses its connection is resolved by re-reading the table, in
//! both outcomes: the `compactor compact` one-shot runs with its catalog behind a
//! [`TcpProxy`] that cuts the connection carrying `UPDATE iceberg_tables`, either after the
//! server applied it (the answer is lost: the commit is found by re-reading and reported as
//! committed) or before the server saw it (the table is unchanged, the pass says the table
//! failed, and the attempt's files are left as orphans that orphan cleanup removes later,
//! never a live one).

use std::collections::BTreeSet;
use std::time::Duration;

use common::TableKind;
use common::tables::TableId;
use iceberg::Catalog;
use serde_json::Value;
use tests_integration::orphans::{backdate_tree, reachable, stored};
use tests_integration::private_pg::PrivatePg;
use tests_integration::pyiceberg_hours::{PyTableByHour, read_by_hour};
use tests_integration::tcp_proxy::{Cut, TcpProxy};
use tests_integration::{Backend, BinCommand, BinOutput, TestEnv, require_python};

use super::assert_references_stored;
use crate::compactor::{
    COMPACTOR, Load, assert_linear_history, compactor, executed, file_name, json_ok, table_entry,
};
use crate::service::count_log;

/// Partitions of 3 small files are compacted; orphan cleanup's shortest grace period.
const CONFIG: &str = "\
[compactor]
min_input_files = 3

[compactor.orphan_cleanup]
grace_period_hours = 1
";

/// One table of 3 quiet hours with 4 small files each: one commit of 3 groups.
const LOAD: Load =
    Load { signals: &[TableKind::Traces], hours: 3, files_per_hour: 4, rows_per_file: 100 };

/// The compactor's compare-and-swap, the only statement of a compaction pass that changes
/// `iceberg_tables`.
const SWAP: &str = "UPDATE iceberg_tables";

/// A private PostgreSQL catalog holding [`LOAD`], a proxy in front of it, and the table as it
/// was written.
struct Setup {
    env: TestEnv,
    proxy: TcpProxy,
    id: TableId,
    before: PyTableByHour,
    /// The metadata file the table pointed at before compaction.
    location: String,
    _pg: PrivatePg,
}

impl Setup {
    async fn new() -> Option<Setup> {
        Self::with_config(CONFIG).await
    }

    /// [`Setup::new`] with `config` instead of [`CONFIG`].
    async fn with_config(config: &str) -> Option<Setup> {
        require_python()?;
        let pg = PrivatePg::start()?;
        let env = TestEnv::with_postgres_at(Backend::Postgres, &pg.url()).await?;
        env.append_config(config);
        let id = LOAD.run(&env).remove(0);
        let before = read_by_hour(&env, &[&id]).remove(&id.to_string()).unwrap();
        let location = before.metadata_location().to_string();
        let proxy = TcpProxy::start(pg.port());
        Some(Setup { env, proxy, id, before, location, _pg: pg })
    }

    /// `compactor compact --json` with its catalog behind the proxy.
    fn compact_through_proxy(&self) -> BinOutput {
        self.run_through_proxy("compact")
    }

    /// `compactor <command> --json` with its catalog behind the proxy.
    fn run_through_proxy(&self, command: &str) -> BinOutput {
        let mut uri = url::Url::parse(self.env.catalog_uri()).unwrap();
        uri.set_port(Some(self.proxy.port())).unwrap();
        BinCommand::new(COMPACTOR)
            .args([command, "--json"])
            .test_env(&self.env)
            .env("RUST_LOG", "info")
            .env("SIGNALDB_SCHEMA_CATALOG_URI", uri.as_str())
            .timeout(Duration::from_secs(60))
            .run()
    }

    /// Checks that the proxy cut exactly one connection, the swap's, as `cut`.
    #[track_caller]
    fn assert_cut_the_swap(&self, cut: Cut, out: &BinOutput) {
        let cuts = self.proxy.cuts();
        assert_eq!(cuts.len(), 1, "{cuts:?}\n{}", out.streams());
        assert_eq!(cuts[0].cut, cut, "{cuts:?}");
        assert!(cuts[0].statement.starts_with(SWAP), "{cuts:?}");
        assert!(!self.proxy.is_armed());
    }

    /// The table's metadata location in the catalog now, read directly.
    async fn current_location(&self) -> String {
        let catalog = self.env.catalog().await;
        let table = catalog.catalog().load_table(&self.id.ident()).await.unwrap();
        table.metadata_location().unwrap().to_string()
    }

    /// Reads the table with pyiceberg and checks it holds exactly the rows written.
    #[track_caller]
    fn assert_rows_unchanged(&self) -> PyTableByHour {
        let key = self.id.to_string();
        let after = read_by_hour(&self.env, &[&self.id]).remove(&key).unwrap();
        assert_eq!(after.read["rows_sha256"], self.before.read["rows_sha256"], "{key}");
        assert_eq!(after.content, self.before.content, "{key}: the rows of every hour");
        assert_linear_history(&key, &after);
        after
    }

    /// Checks that every hour is compacted into one file by the snapshot `snapshot_id`, a
    /// `replace` on top of the written ones.
    #[track_caller]
    fn assert_compacted(&self, after: &PyTableByHour, snapshot_id: i64) {
        for hour in LOAD.hour_labels() {
            let files = after.files_of(&hour);
            assert_eq!(files.len(), 1, "{hour}: {files:?}");
            assert!(files.iter().all(|f| file_name(f).starts_with("compacted-")), "{files:?}");
        }
        let written = self.before.snapshots.len();
        assert_eq!(after.snapshots[..written], self.before.snapshots[..]);
        let new: Vec<_> = after.snapshots[written..].iter().collect();
        assert_eq!(new.len(), 1, "{new:?}");
        assert_eq!((new[0].snapshot_id, new[0].operation.as_str()), (snapshot_id, "replace"));
    }
}

/// The snapshot every group of the table's compaction was committed in.
#[track_caller]
fn committed_snapshot(doc: &Value, id: &TableId) -> i64 {
    let groups = executed(&table_entry(doc, id)["details"]);
    assert_eq!(groups.len(), LOAD.hours as usize, "{doc}");
    assert!(groups.iter().all(|g| g.committed()), "{groups:?}");
    let ids: BTreeSet<i64> = groups.iter().filter_map(|g| g.snapshot_id).collect();
    assert_eq!(ids.len(), 1, "one commit for the pass: {groups:?}");
    ids.into_iter().next().unwrap()
}

/// The server applies the swap but its answer never arrives: re-reading the table finds it at
/// the new metadata, so the pass reports the groups committed, in the snapshot the table is
/// at, and the table holds exactly the rows written in one compacted file per hour.
#[tokio::test]
async fn a_swap_applied_whose_answer_was_lost_is_found_committed() {
    let Some(setup) = Setup::new().await else { return };
    setup.proxy.arm(Cut::AfterAnswer, SWAP);
    let out = setup.compact_through_proxy();
    setup.assert_cut_the_swap(Cut::AfterAnswer, &out);
    let resolved = "re-reading the table shows it applied, so the commit stands";
    assert_eq!(count_log(&out.stderr, resolved), 1, "{}", out.streams());
    let doc = json_ok(&out);
    let snapshot_id = committed_snapshot(&doc, &setup.id);

    let location = setup.current_location().await;
    assert_ne!(location, setup.location, "the swap was applied");
    let after = setup.assert_rows_unchanged();
    assert_eq!(after.metadata_location(), location);
    setup.assert_compacted(&after, snapshot_id);
    let on_storage = assert_references_stored(&setup.env, &setup.id).await;
    // Nothing the commit wrote was removed, and nothing it did not need was left.
    let catalog = setup.env.catalog().await;
    let table = catalog.catalog().load_table(&setup.id.ident()).await.unwrap();
    let referenced = reachable(catalog.warehouse(), &table).await;
    let unreferenced: Vec<&String> = on_storage.difference(&referenced).collect();
    assert!(unreferenced.is_empty(), "files left behind: {unreferenced:?}");
}

/// The swap never reaches the server: re-reading finds the table unchanged, so the pass
/// reports the table failed with its commit's outcome not proven (exit 1, no group committed)
/// and keeps what it wrote. Those files, and only those, are unreferenced; orphan cleanup
/// removes exactly them once they are past the grace period, every referenced file stays, and
/// the next pass compacts the table.
#[tokio::test]
async fn a_swap_lost_before_the_server_saw_it_leaves_the_table_and_only_orphans() {
    let Some(setup) = Setup::new().await else { return };
    let catalog = setup.env.catalog().await;
    let warehouse = catalog.warehouse();
    let table_location = {
        let table = catalog.catalog().load_table(&setup.id.ident()).await.unwrap();
        table.metadata().location().to_string()
    };
    let stored_before = stored(warehouse, &table_location).await;

    setup.proxy.arm(Cut::BeforeForwarding, SWAP);
    let out = setup.compact_through_proxy();
    setup.assert_cut_the_swap(Cut::BeforeForwarding, &out);
    assert_eq!(out.status.code(), Some(1), "{}", out.streams());
    let resolved = "re-reading the table shows it did not apply, so the attempt's files are kept";
    assert_eq!(count_log(&out.stderr, resolved), 1, "{}", out.streams());
    let doc = out.json();
    assert_eq!(doc["failures"], 1, "{doc}");
    let entry = table_entry(&doc, &setup.id);
    assert!(entry["error"].as_str().is_some_and(|e| !e.is_empty()), "{entry}");
    let groups = executed(&entry["details"]);
    assert_eq!(groups.len(), LOAD.hours as usize, "{entry}");
    for g in &groups {
        assert_eq!(g.status, "unknown", "{g:?}");
        assert!(g.snapshot_id.is_none(), "{g:?}");
    }

    assert_eq!(setup.current_location().await, setup.location, "the table is unchanged");
    let after = setup.assert_rows_unchanged();
    assert_eq!(after.snapshots, setup.before.snapshots);
    assert_eq!(after.files, setup.before.files, "the written files are still the live ones");
    let stored_after = assert_references_stored(&setup.env, &setup.id).await;
    assert!(stored_after.is_superset(&stored_before), "nothing was deleted");
    let leftovers: BTreeSet<String> = stored_after.difference(&stored_before).cloned().collect();
    let names: Vec<&str> = leftovers.iter().map(|l| file_name(l)).collect();
    let compacted = names.iter().filter(|n| n.starts_with("compacted-")).count();
    assert_eq!(compacted, LOAD.hours as usize, "the attempt's data files are kept: {names:?}");
    assert!(names.iter().any(|n| n.ends_with(".metadata.json")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("snap-")), "its manifest list: {names:?}");

    // Past the grace period, orphan cleanup removes the attempt's files and nothing else.
    backdate_tree(&table_location, Duration::from_secs(2 * 86_400));
    let doc = json_ok(&compactor(&setup.env, &["orphans", "--json"]));
    let d = &table_entry(&doc, &setup.id)["details"];
    assert_eq!(d["files_deleted"], leftovers.len(), "{d}");
    assert_eq!(d["deletion_failures"], 0, "{d}");
    assert_eq!(stored(warehouse, &table_location).await, stored_before, "exactly the orphans");
    assert_references_stored(&setup.env, &setup.id).await;
    setup.assert_rows_unchanged();

    // The next pass, with the catalog answering, compacts the table.
    let doc = json_ok(&compactor(&setup.env, &["compact", "--json"]));
    let snapshot_id = committed_snapshot(&doc, &setup.id);
    let after = setup.assert_rows_unchanged();
    setup.assert_compacted(&after, snapshot_id);
    assert_references_stored(&setup.env, &setup.id).await;
}

/// The other commits of the compactor (a manifest merge, a partition drop, a snapshot
/// expiration) go through the same swap: with its answer lost after the server applied it, the
/// re-read finds each committed; lost before the server saw it, each table fails unchanged.
#[tokio::test]
async fn every_kind_of_commit_resolves_a_lost_swap_by_re_reading() {
    // Nothing to compact, so only the merge of the 3 hours' manifests commits.
    let merge = "[compactor]\nmin_input_files = 1000\nmanifest_merge_min_count = 1";
    // Every back-dated hour is past 7 days; expiration keeps all.
    let drop =
        "[compactor.retention]\nenabled = true\ngrace_period_hours = 0\nsnapshots_to_keep = 100";
    // Nothing is old enough to drop; all but the current snapshot expire.
    let expire = "[compactor.retention]\nenabled = true\ntraces_retention_days = 3650\nsnapshots_to_keep = 1";
    let kinds = [("manifest merge", merge, "compact"), ("partition drop", drop, "retention")];
    for (kind, config, command) in kinds.into_iter().chain([("expiration", expire, "retention")]) {
        for cut in [Cut::AfterAnswer, Cut::BeforeForwarding] {
            let Some(setup) = Setup::with_config(config).await else { return };
            setup.proxy.arm(cut, SWAP);
            let out = setup.run_through_proxy(command);
            setup.assert_cut_the_swap(cut, &out);
            let location = setup.current_location().await;
            let doc = out.json();
            if cut == Cut::AfterAnswer {
                let resolved = "re-reading the table shows it applied, so the commit stands";
                assert_eq!(count_log(&out.stderr, resolved), 1, "{kind}: {}", out.streams());
                assert_eq!(doc["failures"], 0, "{kind}: {doc}");
                assert_ne!(location, setup.location, "{kind}: the swap was applied");
            } else {
                let resolved = "re-reading the table shows it did not apply";
                assert_eq!(count_log(&out.stderr, resolved), 1, "{kind}: {}", out.streams());
                assert_eq!(doc["failures"], 1, "{kind}: {doc}");
                assert_eq!(location, setup.location, "{kind}: the table is unchanged");
            }
            if kind != "partition drop" || cut == Cut::BeforeForwarding {
                setup.assert_rows_unchanged();
            } else {
                let key = setup.id.to_string();
                let after = read_by_hour(&setup.env, &[&setup.id]).remove(&key).unwrap();
                assert_eq!(after.total_rows(), 0, "{kind}: every hour was past retention");
            }
            assert_references_stored(&setup.env, &setup.id).await;
        }
    }
}
