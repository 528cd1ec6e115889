use std::time::Duration;

use common::config::StorageConfig;

use super::*;

/// An assembly with every job enabled, then `edit`ed.
fn assembly(edit: impl FnOnce(&mut CompactorConfig)) -> (tempfile::TempDir, Assembly) {
    let dir = tempfile::tempdir().unwrap();
    let storage =
        StorageConfig { dsn: format!("file://{}/wh", dir.path().display()), ..Default::default() };
    let mut config = Config { storage, ..Default::default() };
    config.schema.catalog_uri = format!("sqlite://{}/catalog.db", dir.path().display());
    config.compactor.retention.enabled = true;
    config.compactor.orphan_cleanup.enabled = true;
    edit(&mut config.compactor);
    let assembly = Assembly::new(&config).unwrap();
    (dir, assembly)
}

fn kinds(runnables: &[Runnable]) -> Vec<JobKind> {
    runnables.iter().map(|r| r.spec.kind).collect()
}

#[test]
fn specs_follow_each_section_of_the_config() {
    let (_dir, a) = assembly(|c| {
        c.enabled = false;
        c.compaction_interval_secs = 7;
        c.retention.dry_run = true;
        c.orphan_cleanup.cleanup_interval_hours = 3;
    });
    let [compaction, retention, cleanup] = a.specs();
    assert_eq!((compaction.kind, compaction.enabled), (JobKind::Compaction, false));
    assert_eq!(compaction.interval, Duration::from_secs(7));
    assert!(retention.dry_run && !compaction.dry_run && !cleanup.dry_run);
    assert_eq!(cleanup.interval, Duration::from_secs(3 * 3600));
    assert_eq!(compaction.disabled_message(), "Compaction disabled");
}

#[test]
fn once_runs_enabled_jobs_in_order_and_retention_stands_for_cleanup() {
    let (_dir, all) = assembly(|_| {});
    assert_eq!(kinds(&all.once()), [JobKind::Compaction, JobKind::Retention]);
    let (_dir, no_retention) = assembly(|c| c.retention.enabled = false);
    assert_eq!(kinds(&no_retention.once()), [JobKind::Compaction, JobKind::OrphanCleanup]);
    let (_dir, none) = assembly(|c| {
        c.enabled = false;
        c.retention.enabled = false;
        c.orphan_cleanup.enabled = false;
    });
    assert!(none.once().is_empty());
    // A one-shot command runs a job whose scheduler is disabled.
    assert_eq!(none.one_shot(JobKind::Retention).spec.kind, JobKind::Retention);
}

#[test]
fn the_daemon_schedules_enabled_jobs_with_their_dry_run_and_interval() {
    let (_dir, a) = assembly(|c| {
        c.orphan_cleanup.enabled = false;
        c.dry_run = true;
    });
    let schedules = a.schedules();
    let kinds: Vec<(JobKind, bool)> =
        schedules.iter().map(|(s, x)| (s.kind, x.is_some())).collect();
    assert_eq!(
        kinds,
        [(JobKind::Compaction, true), (JobKind::Retention, true), (JobKind::OrphanCleanup, false)]
    );
    let (spec, Some(compaction)) = &schedules[0] else { panic!("compaction is scheduled") };
    assert_eq!((compaction.job.kind(), compaction.scope.dry_run), (JobKind::Compaction, true));
    assert_eq!(compaction.interval, spec.interval);
    let (_, Some(retention)) = &schedules[1] else { panic!("retention is scheduled") };
    assert_eq!((retention.job.kind(), retention.scope.dry_run), (JobKind::Retention, false));
}
