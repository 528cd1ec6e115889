//! Fair share across tenants: one tenant with many times the backlog of the others cannot
//! keep them waiting. With `max_groups_per_tenant`, every light tenant's closed hours are
//! compacted in the first pass while the heavy tenant's backlog is spread over several
//! passes, its most urgent groups first; the plan shows the same share before anything runs.

use common::TableKind;
use common::tables::TableId;
use serde_json::Value;
use tests_integration::{Backend, BinCommand, TestEnv};

use super::{DATASET, END_TIME, LOADGEN, compactor, executed, json_ok, table_entry};

/// The heavy tenant: 3 tables of 40 closed hours each, 120 groups of work.
const HEAVY: &str = "heavy";
const HEAVY_SIGNALS: [TableKind; 3] = [TableKind::Traces, TableKind::Logs, TableKind::Metrics];
const HEAVY_HOURS: u64 = 40;
/// The light tenants: one table of one closed hour each, one group of work.
const LIGHT: usize = 9;
/// Files of every hour: enough for `min_input_files = 3`.
const FILES_PER_HOUR: u64 = 3;
/// Groups one tenant is given per pass.
const CAP: u64 = 10;

const CONFIG: &str = "[compactor]\nmin_input_files = 3\nmax_concurrent_jobs = 1\n\
                      max_groups_per_tenant = 10";

fn light_tenants() -> Vec<String> {
    (1..=LIGHT).map(|i| format!("light{i}")).collect()
}

/// Writes `hours` closed hours of small files into `signals` of every tenant in `tenants`.
fn load(env: &TestEnv, tenants: &[String], signals: &[TableKind], hours: u64) {
    let signals: Vec<&str> = signals.iter().map(|s| s.as_str()).collect();
    BinCommand::new(LOADGEN)
        .config_flag(env)
        .args(["--tenants", &tenants.join(","), "--datasets", DATASET])
        .args(["--signals", &signals.join(","), "--hours", &hours.to_string()])
        .args(["--files-per-hour", &FILES_PER_HOUR.to_string(), "--rows-per-file", "20"])
        .args(["--seed", "7", "--end-time", END_TIME, "--json"])
        .test_env(env)
        .run()
        .assert_success();
}

fn heavy_tables() -> Vec<TableId> {
    HEAVY_SIGNALS.iter().map(|&s| TableId::new(HEAVY, DATASET, s).unwrap()).collect()
}

fn light_tables() -> Vec<TableId> {
    light_tenants().iter().map(|t| TableId::new(t, DATASET, TableKind::Logs).unwrap()).collect()
}

/// The `details` of table `id` in a pass's document.
fn details<'a>(doc: &'a Value, id: &TableId) -> &'a Value {
    &table_entry(doc, id)["details"]
}

/// Groups committed in the pass over `ids`, and groups deferred to a later one.
fn committed_and_deferred(doc: &Value, ids: &[TableId]) -> (u64, u64) {
    ids.iter().fold((0, 0), |(c, d), id| {
        let t = details(doc, id);
        let committed = executed(t).iter().filter(|g| g.committed()).count() as u64;
        (c + committed, d + t["deferred_groups"].as_u64().unwrap())
    })
}

#[tokio::test]
async fn light_tenants_are_compacted_within_two_passes_beside_a_heavy_backlog_on_sqlite_local() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    env.append_config(CONFIG);
    load(&env, &[HEAVY.to_string()], &HEAVY_SIGNALS, HEAVY_HOURS);
    load(&env, &light_tenants(), &[TableKind::Logs], 1);
    let (heavy, light) = (heavy_tables(), light_tables());
    let heavy_groups = HEAVY_SIGNALS.len() as u64 * HEAVY_HOURS;

    // The plan already gives each tenant its share: every light tenant's hour is a candidate,
    // the heavy tenant's groups beyond the cap are deferred.
    let plan = json_ok(&compactor(&env, &["plan", "--json"]));
    for id in &light {
        let t = details(&plan, id);
        assert_eq!(
            (t["candidates"].as_array().unwrap().len(), &t["deferred_groups"]),
            (1, &0.into())
        );
    }
    let planned: u64 = heavy
        .iter()
        .map(|id| details(&plan, id)["candidates"].as_array().unwrap().len() as u64)
        .sum();
    let deferred: u64 =
        heavy.iter().map(|id| details(&plan, id)["deferred_groups"].as_u64().unwrap()).sum();
    assert_eq!((planned, deferred), (CAP, heavy_groups - CAP), "{plan}");
    let text = compactor(&env, &["plan"]);
    assert!(text.stdout.contains("to the next pass: tenant_cap"), "{}", text.stdout);

    // Pass 1: every light tenant is compacted; the heavy tenant gets its cap, the rest waits.
    let first = json_ok(&compactor(&env, &["compact", "--json"]));
    for id in &light {
        let groups = executed(details(&first, id));
        assert!(groups.len() == 1 && groups[0].committed(), "{id}: {groups:?}");
    }
    assert_eq!(committed_and_deferred(&first, &heavy), (CAP, heavy_groups - CAP), "{first}");
    let pending = heavy.iter().map(|id| details(&first, id)["skipped"].to_string());
    assert!(pending.clone().any(|s| s.contains("tenant_cap")), "{first}");
    let summaries: Vec<&str> =
        heavy.iter().filter_map(|id| table_entry(&first, id)["summary"].as_str()).collect();
    assert!(summaries.iter().any(|s| s.contains("deferred to the next pass (tenant cap)")));

    // Pass 2: the light tenants have nothing left; the heavy tenant gets its next share.
    let second = json_ok(&compactor(&env, &["compact", "--json"]));
    for id in &light {
        let t = details(&second, id);
        assert!(t["candidates"].as_array().unwrap().is_empty(), "{id}: {t}");
    }
    assert_eq!(committed_and_deferred(&second, &heavy), (CAP, heavy_groups - 2 * CAP));
}
