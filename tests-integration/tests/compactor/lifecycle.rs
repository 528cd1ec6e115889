//! The daemon's retention lifecycle: a retention pass that drops partitions and expires
//! snapshots is followed, in the same cycle, by orphan cleanup of the table it changed (not a
//! day later at the orphan scheduler's next tick), so storage ends up holding exactly what the
//! metadata reaches.

use std::time::Duration;

use iceberg::Catalog;
use tests_integration::orphans::{backdate_tree, reachable, stored};
use tests_integration::{Backend, TestEnv};

use super::orphan_cleanup::{load_hours_around_a_one_day_cutoff, location, traces};
use crate::service::{Daemon, command, count_log, cycles};

#[tokio::test]
async fn the_daemon_reclaims_what_retention_released_in_the_same_cycle() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    // Compaction is off, and orphan cleanup's own interval (24 h) gives it one start-up pass:
    // a second cleanup pass can only be retention's follow-up.
    env.append_config(
        "[compactor]\nenabled = false\n\
         [compactor.retention]\nenabled = true\ntraces_retention_days = 1\nsnapshots_to_keep = 1\n\
         [compactor.orphan_cleanup]\nenabled = true\ngrace_period_hours = 1\nlifecycle_pause_secs = 0",
    );
    load_hours_around_a_one_day_cutoff(&env);
    let id = traces();
    let root = location(&env, &id).await;
    // Everything written so far is older than the grace period once retention releases it.
    backdate_tree(&root, Duration::from_secs(2 * 3600));

    let mut daemon = Daemon::start(|| command(super::COMPACTOR, &env).args(["run"]));
    let metrics = daemon.scrape_until("retention and its cleanup", Duration::from_secs(60), |m| {
        cycles(m, "retention", "success") >= 1.0 && cycles(m, "orphan_cleanup", "success") >= 2.0
    });
    let out = daemon.stop();
    assert_eq!(cycles(&metrics, "orphan_cleanup", "failure"), 0.0);
    assert_eq!(count_log(&out.stderr, "Retention finished; orphan cleanup follows"), 1);

    let (warehouse, catalog) = (env.warehouse(), env.catalog().await);
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    assert_eq!(table.metadata().snapshots().len(), 1, "expired down to snapshots_to_keep");
    let (on_storage, referenced) =
        (stored(&warehouse, &root).await, reachable(&warehouse, &table).await);
    assert_eq!(on_storage, referenced, "released files were reclaimed\n{}", out.streams());
}
