//! An instance that dies or stalls while holding a table: another instance takes the table
//! over once the lease expires and finishes it; the stalled one, resumed, commits nothing and
//! says so; the dead one's partial files are orphans that cleanup removes.

use std::time::{Duration, Instant};

use tests_integration::iceberg_read::list_locations;
use tests_integration::orphans::{backdate_tree, reachable, stored};
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::{Backend, BinChild, TestEnv, hours_ending_at, require_python};

use super::*;

const HOURS: u64 = 8;
const FILES: u64 = 8;
const ROWS: u64 = 3000;

/// One table at a time, one commit per table (so a rewrite in progress has written files no
/// snapshot references yet), leases of `ttl` seconds renewed every second.
fn settings(ttl: &'static str, interval: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("METRICS_PORT", "0"),
        ("COMPACTION_INTERVAL_SECS", interval),
        ("MIN_INPUT_FILES", "2"),
        ("MAX_CONCURRENT_JOBS", "1"),
        ("LEASE_TTL_SECS", ttl),
        ("LEASE_RENEW_INTERVAL_SECS", "1"),
    ]
}

/// Files compaction wrote under table `id`'s data directory, listed through the store.
async fn compacted_files(env: &TestEnv, id: &TableId) -> Vec<String> {
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let data = format!("{}/data", table.metadata().location());
    let listed = list_locations(catalog.warehouse(), &data).await.unwrap();
    listed.into_iter().filter(|l| l.rsplit('/').next().unwrap().starts_with("compacted-")).collect()
}

/// Waits until `child` holds a compaction lease and has written output for that table without
/// committing it: mid-rewrite. Returns the table and the holder's instance id.
async fn mid_rewrite(env: &TestEnv, ids: &[TableId], child: &mut BinChild) -> (TableId, String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(child.is_running(), "the compactor exited before it could be caught");
        assert!(Instant::now() < deadline, "no rewrite in progress was seen");
        if let Some(h) = holders(env).await.into_iter().find(|h| h.job == JobKind::Compaction) {
            let id = ids.iter().find(|id| id.table.as_str() == h.table).unwrap().clone();
            let uncommitted = files_per_hour(env, &id).await.values().all(|n| *n == FILES as usize);
            if uncommitted && !compacted_files(env, &id).await.is_empty() {
                return (id, h.owner);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The three tables of `acme.prod`, loaded on SQLite and the filesystem, and read by pyiceberg.
struct Loaded {
    env: TestEnv,
    ids: Vec<TableId>,
    hours: Vec<String>,
    keys: Vec<String>,
    before: std::collections::BTreeMap<String, tests_integration::pyiceberg_hours::PyTableByHour>,
}

impl Loaded {
    async fn new() -> Option<Self> {
        let env = TestEnv::new(Backend::SqliteLocal).await?;
        require_python()?;
        let ids = load(&env, &["acme"], HOURS, FILES, ROWS);
        let hours = hours_ending_at(END_TIME.parse().unwrap(), HOURS as i64);
        let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let before = read_by_hour(&env, &keys);
        Some(Self { env, ids, hours, keys, before })
    }
}

/// Reads `keys` with pyiceberg once and checks each of `hours` holds the rows of `before`.
#[track_caller]
fn assert_rows_unchanged(
    env: &TestEnv,
    keys: &[String],
    hours: &[String],
    before: &std::collections::BTreeMap<String, tests_integration::pyiceberg_hours::PyTableByHour>,
) {
    let after = read_by_hour(env, keys);
    for key in keys {
        for hour in hours {
            assert_eq!(after[key].content[hour], before[key].content[hour], "{key} {hour}");
        }
    }
}

#[tokio::test]
async fn a_killed_instances_table_is_taken_over_after_the_ttl_and_its_files_cleaned_up() {
    let Some(Loaded { env, ids, hours, keys, before }) = Loaded::new().await else { return };

    let mut dead = compactor(&env, &settings("3", "3600")).args(["run"]).spawn();
    let (id, dead_id) = mid_rewrite(&env, &ids, &mut dead).await;
    dead.signal("KILL");
    let killed_at = Instant::now();
    let _ = dead.wait();
    let partial = compacted_files(&env, &id).await;

    // The survivor skips the table while the dead instance's lease lasts, then takes it over.
    let mut survivor = vec![compactor(&env, &settings("3", "1")).args(["run"]).spawn()];
    wait_compacted(&env, &ids, &hours, Duration::from_secs(120), &mut survivor).await;
    let taken_after = killed_at.elapsed();
    let survivor = survivor.pop().unwrap();
    survivor.terminate();
    let out = survivor.wait_timeout(Duration::from_secs(30));
    out.assert_success();
    let took_over = format!("Took over the compaction lease of {id} from {dead_id}");
    assert!(out.stderr.contains(&took_over), "{}", out.stderr);
    assert!(taken_after >= Duration::from_secs(3), "taken over before the TTL: {taken_after:?}");
    assert_rows_unchanged(&env, &keys, &hours, &before);
    let runs = history(&env, &id).await;
    assert_one_at_a_time(&id, &runs);
    assert!(runs.iter().all(|r| r.instance != dead_id), "a killed pass records nothing");

    // The dead instance's outputs are referenced by nothing: orphans, which cleanup removes.
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let warehouse = env.warehouse();
    let live = reachable(&warehouse, &table).await;
    let root = table.metadata().location().to_string();
    let partial: Vec<String> =
        partial.iter().map(|l| warehouse.object_path(l).unwrap().to_string()).collect();
    assert!(partial.iter().all(|p| !live.contains(p)), "{partial:?}");
    backdate_tree(&root, Duration::from_secs(2 * 3600));
    let cleanup = compactor(&env, &[("ORPHAN_CLEANUP_GRACE_PERIOD_HOURS", "1")])
        .args(["orphans", "--tenant", "acme", "--json"])
        .run();
    cleanup.assert_success();
    assert_eq!(stored(&warehouse, &root).await, live, "{}", cleanup.stdout);
}

#[tokio::test]
async fn a_stalled_instance_whose_lease_was_taken_over_commits_nothing_and_says_so() {
    let Some(Loaded { env, ids, hours, keys, before }) = Loaded::new().await else { return };

    let mut stalled = compactor(&env, &settings("2", "3600")).args(["run"]).spawn();
    let (id, stalled_id) = mid_rewrite(&env, &ids, &mut stalled).await;
    stalled.signal("STOP");
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Another instance takes the expired lease and compacts the table.
    let taker = compactor(&env, &settings("2", "3600")).args(["compact", "--json"]).run();
    taker.assert_success();
    let took_over = format!("Took over the compaction lease of {id} from {stalled_id}");
    assert!(taker.stderr.contains(&took_over), "{}", taker.streams());
    compacted(&env, &ids, &hours, Duration::from_secs(5)).await.unwrap();
    let catalog = env.catalog().await;
    let committed = catalog.catalog().load_table(&id.ident()).await.unwrap();

    // Resumed, the stalled instance finds its lease gone, stops and commits nothing.
    stalled.signal("CONT");
    tokio::time::sleep(Duration::from_secs(4)).await;
    stalled.terminate();
    let out = stalled.wait_timeout(Duration::from_secs(30));
    out.assert_success();
    let lost = format!("the compaction lease of {id} was lost while working on it");
    assert!(out.stderr.contains(&lost), "{}", out.stderr);
    let now = catalog.catalog().load_table(&id.ident()).await.unwrap();
    assert_eq!(now.metadata_location(), committed.metadata_location(), "the stalled one committed");
    assert_rows_unchanged(&env, &keys, &hours, &before);
}
