use chrono::TimeZone;
use common::TableKind;

use super::*;
use crate::changes::Changes;
use crate::job::JobKind;
use crate::state::RunRecord;
use crate::table_state::HourFiles;

fn config() -> CompactorConfig {
    let mut c = CompactorConfig::default();
    c.retention.enabled = true;
    c.orphan_cleanup.enabled = true;
    c
}

fn names(warnings: &[Warning]) -> Vec<&'static str> {
    warnings.iter().map(|w| w.check).collect()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 20, 12, 0, 0).unwrap()
}

fn logs() -> TableId {
    TableId::new("acme", "prod", TableKind::Logs).unwrap()
}

/// A table with one file per hour in `hours` (hours before `now`), `snapshots` and `manifests`.
fn state(hours_ago: &[i64], snapshots: u64, manifests: u64) -> TableState {
    let now_hour = cutoff_hour(now());
    let mut s = TableState { snapshots, manifests, ..TableState::default() };
    for h in hours_ago {
        let files = HourFiles { end_hour: now_hour - h + 1, files: 1, small_files: 1, bytes: 1000 };
        s.hours.insert(now_hour - h, files);
        s.data_files += 1;
        s.data_bytes += 1000;
    }
    s
}

fn run(job: JobKind, outcome: RunOutcome, hours_ago: i64, changes: Changes) -> RunRecord {
    let at = now() - chrono::Duration::hours(hours_ago);
    RunRecord {
        job,
        started_at: at,
        finished_at: at,
        outcome,
        changes,
        error: None,
        error_kind: None,
        instance: String::new(),
        requests: Default::default(),
    }
}

#[test]
fn the_default_configuration_with_every_job_on_warns_of_nothing() {
    assert!(config_warnings(&config()).is_empty());
    let healthy = state(&[1, 2], 3, 2);
    assert!(table_warnings(&config(), &logs(), &healthy, &RecentRuns::default(), now()).is_empty());
}

#[test]
fn an_admin_api_without_a_token_is_its_documented_default_not_a_warning() {
    let c = config();
    assert!(c.admin.enabled && c.admin.token().is_none());
    assert!(config_warnings(&c).is_empty());
}

#[test]
fn configuration_checks_name_the_keys_that_cannot_work_together() {
    let mut c = config();
    c.orphan_cleanup.enabled = false;
    c.compaction_interval_secs = 4 * 86_400;
    c.retention.grace_period_hours = 100;
    let w = config_warnings(&c);
    assert_eq!(
        names(&w),
        [ORPHAN_CLEANUP_DISABLED, COMPACTION_INTERVAL_EXCEEDS_RETENTION, GRACE_EXCEEDS_RETENTION]
    );
    assert!(w[1].message.contains("shortest retention period (3 days)"), "{}", w[1].message);
    // A tenant override shorter than the defaults is the shortest period.
    let mut c = config();
    c.retention.tenant_overrides.push(common::config::TenantOverride {
        tenant_id: "acme".into(),
        traces_retention_days: Some(1),
        ..Default::default()
    });
    c.compaction_interval_secs = 2 * 86_400;
    assert_eq!(names(&config_warnings(&c)), [COMPACTION_INTERVAL_EXCEEDS_RETENTION]);
}

#[test]
fn data_past_the_cutoff_warns_only_while_retention_does_not_act() {
    // Logs keep 3 days (+1 h grace): a file 5 days old is past the cutoff.
    let old = state(&[5 * 24, 1], 3, 2);
    let runs = RecentRuns::default();
    assert!(table_warnings(&config(), &logs(), &old, &runs, now()).is_empty());
    let mut off = config();
    off.retention.enabled = false;
    off.orphan_cleanup.enabled = false;
    let w = table_warnings(&off, &logs(), &old, &runs, now());
    assert_eq!(names(&w), [STORAGE_GROWS_DESPITE_RETENTION]);
    assert!(w[0].message.contains("1000 bytes in 1 files"), "{}", w[0].message);
    let mut dry = config();
    dry.retention.dry_run = true;
    let w = table_warnings(&dry, &logs(), &old, &runs, now());
    assert!(w[0].message.contains("in dry run"), "{}", w[0].message);
}

#[test]
fn metadata_growth_warns_when_expiration_or_merging_is_off() {
    let mut off = config();
    off.retention.enabled = false;
    let many = state(&[1], 40, 150);
    let runs = RecentRuns::default();
    let w = table_warnings(&off, &logs(), &many, &runs, now());
    assert_eq!(names(&w), [SNAPSHOTS_UNBOUNDED]);
    // Merging on (100): 150 manifests are tolerated, 250 mean merging fails.
    let lots = state(&[1], 3, 250);
    assert_eq!(
        names(&table_warnings(&config(), &logs(), &lots, &runs, now())),
        [MANIFESTS_UNBOUNDED]
    );
    let mut no_merge = config();
    no_merge.manifest_merge_min_count = 0;
    let w = table_warnings(&no_merge, &logs(), &many, &runs, now());
    assert_eq!(names(&w), [MANIFESTS_UNBOUNDED]);
    assert!(w[0].message.contains("merging is off"), "{}", w[0].message);
}

#[test]
fn a_rewrite_without_gain_and_a_job_failing_for_three_intervals_warn() {
    let s = state(&[1], 3, 2);
    let no_gain = Changes { files_removed: 5, files_added: 5, ..Changes::default() };
    let gain = Changes { files_removed: 5, files_added: 1, ..Changes::default() };
    let rewrite = |changes| RecentRuns {
        last_rewrite: Some(run(JobKind::Compaction, RunOutcome::Success, 1, changes)),
        ..RecentRuns::default()
    };
    let w = table_warnings(&config(), &logs(), &s, &rewrite(no_gain), now());
    assert_eq!(names(&w), [COMPACTION_WITHOUT_GAIN]);
    assert!(table_warnings(&config(), &logs(), &s, &rewrite(gain), now()).is_empty());
    // Fewer files a little larger (copied row groups, more footer) gain; a tenth more do not.
    let bytes = |added| Changes { bytes_removed: 1000, bytes_added: added, ..gain };
    assert!(table_warnings(&config(), &logs(), &s, &rewrite(bytes(1100)), now()).is_empty());
    let w = table_warnings(&config(), &logs(), &s, &rewrite(bytes(1101)), now());
    assert_eq!(names(&w), [COMPACTION_WITHOUT_GAIN]);

    // Compaction runs hourly, and the history records a pass that changed nothing hourly
    // (the full check): failing now with the last success 5 hours ago warns (three intervals
    // and a full check); 4 hours ago does not.
    let failing = |success_hours_ago| RecentRuns {
        by_job: vec![(
            JobKind::Compaction,
            Some(RunRecord {
                error: Some("catalog unreachable".into()),
                ..run(JobKind::Compaction, RunOutcome::Failure, 0, Changes::default())
            }),
            Some(run(JobKind::Compaction, RunOutcome::Success, success_hours_ago, gain)),
        )],
        last_rewrite: None,
    };
    let w = table_warnings(&config(), &logs(), &s, &failing(5), now());
    assert_eq!(names(&w), [JOB_NOT_SUCCEEDING]);
    assert!(w[0].message.contains("last error: catalog unreachable"), "{}", w[0].message);
    assert!(table_warnings(&config(), &logs(), &s, &failing(4), now()).is_empty());
    // Without the full check, every pass is recorded: three intervals are the window.
    let mut every_pass = config();
    every_pass.full_check_interval_secs = 0;
    assert_eq!(
        names(&table_warnings(&every_pass, &logs(), &s, &failing(4), now())),
        [JOB_NOT_SUCCEEDING]
    );
    // A disabled job is not expected to run.
    let mut off = config();
    off.enabled = false;
    assert!(table_warnings(&off, &logs(), &s, &failing(5), now()).is_empty());
}

#[test]
fn a_table_without_a_time_partition_warns_with_the_reason() {
    let reason = "the table is not partitioned (spec 0): it has no hour or day partition";
    let state = TableState { not_maintainable: Some(reason.to_string()), ..state(&[1], 1, 1) };
    let w = table_warnings(&config(), &logs(), &state, &RecentRuns::default(), now());
    assert_eq!(names(&w), [TABLE_NOT_MAINTAINABLE]);
    assert!(w[0].message.contains(reason), "{}", w[0].message);
    assert!(TABLE_CHECKS.contains(&TABLE_NOT_MAINTAINABLE), "exported by compactor_warnings");
}
