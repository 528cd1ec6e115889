//! One test per deduction: each builds a table that triggers exactly that deduction and checks
//! the points and the reason; then how deductions add up.

use chrono::TimeZone;
use common::config::CompactorConfig;

use super::*;
use crate::changes::Changes;
use crate::job::JobKind;
use crate::table_state::{HourFiles, PartitionDeletes};
use crate::warnings::SNAPSHOTS_UNBOUNDED;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 20, 12, 0, 0).unwrap()
}

/// The defaults, spelled out where a test depends on them.
fn config() -> CompactorConfig {
    let mut c = CompactorConfig {
        min_input_files: 5,
        quiet_period_secs: 3600,
        manifest_merge_min_count: 100,
        ..CompactorConfig::default()
    };
    c.retention.snapshots_to_keep = 5;
    c
}

/// A table no check deducts for: ten large files in one hour two days ago, one manifest, one
/// snapshot.
fn clean() -> TableState {
    let hour = cutoff_hour(now()) - 48;
    let mut s = TableState {
        data_files: 10,
        data_bytes: 10_000,
        manifests: 1,
        snapshots: 1,
        ..Default::default()
    };
    s.hours
        .insert(hour, HourFiles { end_hour: hour + 1, files: 10, small_files: 0, bytes: 10_000 });
    s
}

/// `state` with `small` small files added in the hour `hours_ago` hours before now.
fn with_small_files(mut state: TableState, hours_ago: i64, small: u64) -> TableState {
    let hour = cutoff_hour(now()) - hours_ago;
    let files = HourFiles { end_hour: hour + 1, files: small, small_files: small, bytes: small };
    state.hours.insert(hour, files);
    state.data_files += small;
    state.small_files += small;
    state
}

fn score(facts: &Facts<'_>) -> Health {
    health(&config(), facts, now())
}

fn of(state: &TableState) -> Health {
    score(&Facts { state: Some(state), ..Facts::default() })
}

fn failed(job: JobKind, error: Option<&str>) -> RunRecord {
    RunRecord {
        job,
        started_at: now(),
        finished_at: now(),
        outcome: RunOutcome::Failure,
        changes: Changes::default(),
        error: error.map(str::to_string),
        error_kind: None,
        instance: String::new(),
        requests: Default::default(),
    }
}

/// Asserts that `health` has exactly one deduction, of `kind` and `points`, whose reason
/// contains `detail`, and scores what is left.
#[track_caller]
fn only(health: &Health, kind: Deduction, points: u32, detail: &str) {
    assert_eq!(health.reasons.len(), 1, "{health:?}");
    let r = &health.reasons[0];
    assert_eq!((r.deduction, r.points), (kind, points), "{health:?}");
    assert!(r.detail.contains(detail), "{r}");
    assert_eq!(u32::from(health.score), 100 - points, "{health:?}");
    assert_eq!(health.healthy, health.score >= HEALTHY_SCORE, "{health:?}");
}

#[test]
fn a_table_without_signs_of_neglect_scores_100() {
    let h = of(&clean());
    assert_eq!((h.score, h.healthy), (100, true), "{h:?}");
    assert!(h.reasons.is_empty(), "{h:?}");
}

#[test]
fn a_table_that_cannot_be_read_loses_every_point() {
    let facts = Facts { state: None, error: Some("catalog unreachable"), ..Facts::default() };
    let h = score(&facts);
    only(
        &h,
        Deduction::Unreadable,
        WEIGHTS.unreadable,
        "the table cannot be read: catalog unreachable",
    );
    assert_eq!((h.score, h.healthy), (0, false));
    assert_eq!(h.reasons[0].to_string(), "-100: the table cannot be read: catalog unreachable");
    let unknown = score(&Facts::default());
    assert!(unknown.reasons[0].detail.ends_with("unknown error"), "{unknown:?}");
}

#[test]
fn a_table_the_compactor_cannot_maintain_loses_50() {
    let state = TableState { not_maintainable: Some("no time partition".into()), ..clean() };
    let h = of(&state);
    only(&h, Deduction::NotMaintainable, 50, "cannot maintain the table: no time partition");
    assert!(!h.healthy);
}

#[test]
fn the_small_file_backlog_costs_up_to_40_in_proportion() {
    // Ten small files in a closed hour beside ten large ones: half the files, 20 points.
    let h = of(&with_small_files(clean(), 3, 10));
    only(
        &h,
        Deduction::SmallFileBacklog,
        20,
        "10 small files in closed partitions are waiting for compaction (50% of the data files)",
    );
    // Any share costs at least a point: 5 of 1005 files.
    let mut large = clean();
    large.data_files = 1000;
    only(&of(&with_small_files(large, 3, 5)), Deduction::SmallFileBacklog, 1, "5 small files");
    // Too few to compact (fewer than min_input_files), or in an hour still within the quiet
    // period, they are no backlog.
    assert!(of(&with_small_files(clean(), 3, 4)).reasons.is_empty());
    assert!(of(&with_small_files(clean(), 0, 10)).reasons.is_empty());
}

#[test]
fn delete_files_cost_up_to_20_in_proportion_to_data_files() {
    let deletes = vec![PartitionDeletes {
        partition: "2026-01-18-12".into(),
        delete_files: 2,
        delete_rows: 7,
    }];
    let state =
        TableState { delete_files: 2, delete_rows: 7, deletes_by_partition: deletes, ..clean() };
    // Two delete files for ten data files: a fifth of 20.
    only(
        &of(&state),
        Deduction::DeleteFiles,
        4,
        "2 delete files (7 rows) in 1 partitions for 10 data files",
    );
    // More delete files than data files cost no more than the weight.
    let many = TableState { delete_files: 50, ..state };
    only(&of(&many), Deduction::DeleteFiles, WEIGHTS.delete_files, "50 delete files");
}

#[test]
fn too_many_manifests_cost_15() {
    // The limit is max(manifest_merge_min_count, 100).
    assert!(of(&TableState { manifests: 100, ..clean() }).reasons.is_empty());
    only(
        &of(&TableState { manifests: 101, ..clean() }),
        Deduction::Manifests,
        15,
        "101 manifests (more than 100)",
    );
    let mut c = config();
    c.manifest_merge_min_count = 200;
    let state = TableState { manifests: 101, ..clean() };
    let facts = Facts { state: Some(&state), ..Facts::default() };
    assert!(health(&c, &facts, now()).reasons.is_empty());
}

#[test]
fn too_many_snapshots_cost_10() {
    // The limit is twice snapshots_to_keep.
    assert!(of(&TableState { snapshots: 10, ..clean() }).reasons.is_empty());
    only(
        &of(&TableState { snapshots: 11, ..clean() }),
        Deduction::Snapshots,
        10,
        "11 snapshots (more than 10)",
    );
}

#[test]
fn each_warning_sign_costs_20() {
    let state = clean();
    let warning = Warning { check: SNAPSHOTS_UNBOUNDED, message: "snapshots grow".into() };
    let warnings = [warning];
    let h = score(&Facts { state: Some(&state), warnings: &warnings, ..Facts::default() });
    only(&h, Deduction::Warning, 20, "warning snapshots_unbounded");
    let two = [warnings[0].clone(), warnings[0].clone()];
    let h = score(&Facts { state: Some(&state), warnings: &two, ..Facts::default() });
    assert_eq!(h.score, 60, "{h:?}");
}

#[test]
fn each_failed_newest_pass_costs_15() {
    let state = clean();
    let run = failed(JobKind::Retention, Some("disk full"));
    let h = score(&Facts { state: Some(&state), last_runs: &[&run], ..Facts::default() });
    only(&h, Deduction::FailedPass, 15, "the last retention pass failed: disk full");
    let silent = failed(JobKind::Compaction, None);
    let h = score(&Facts { state: Some(&state), last_runs: &[&silent], ..Facts::default() });
    only(&h, Deduction::FailedPass, 15, "the last compaction pass failed: no error recorded");
    // Passes that succeeded or only reported cost nothing.
    let ok = RunRecord { outcome: RunOutcome::Success, ..run.clone() };
    let dry = RunRecord { outcome: RunOutcome::DryRun, ..run };
    let h = score(&Facts { state: Some(&state), last_runs: &[&ok, &dry], ..Facts::default() });
    assert!(h.reasons.is_empty(), "{h:?}");
}

#[test]
fn a_status_read_in_part_costs_10() {
    let state = clean();
    let h = score(&Facts {
        state: Some(&state),
        error: Some("run history (read): timeout"),
        ..Facts::default()
    });
    only(
        &h,
        Deduction::PartlyUnreadable,
        10,
        "part of the status could not be read: run history (read): timeout",
    );
}

#[test]
fn deductions_add_up_to_at_most_every_point_and_70_is_healthy() {
    // A warning and a partial read: 70, still healthy; a failed pass more: 55, unhealthy.
    let state = clean();
    let warnings = [Warning { check: SNAPSHOTS_UNBOUNDED, message: String::new() }];
    let partial =
        Facts { state: Some(&state), warnings: &warnings, error: Some("x"), ..Facts::default() };
    let h = score(&partial);
    assert_eq!((h.score, h.healthy), (70, true), "{h:?}");
    let run = failed(JobKind::Compaction, None);
    let h = score(&Facts { last_runs: &[&run], ..partial });
    assert_eq!((h.score, h.healthy), (55, false), "{h:?}");
    let kinds: Vec<_> = h.reasons.iter().map(|r| r.deduction).collect();
    assert_eq!(kinds, [Deduction::Warning, Deduction::FailedPass, Deduction::PartlyUnreadable]);
    // Everything at once cannot go below 0.
    let worst = TableState {
        not_maintainable: Some("no time partition".into()),
        manifests: 500,
        snapshots: 500,
        ..clean()
    };
    let h = score(&Facts { state: Some(&worst), last_runs: &[&run], ..partial });
    assert_eq!((h.score, h.healthy), (0, false), "{h:?}");
}

#[test]
fn reasons_serialise_as_their_line() {
    let reason =
        Reason { deduction: Deduction::Snapshots, points: 10, detail: "11 snapshots".into() };
    assert_eq!(serde_json::to_value(&reason).unwrap(), serde_json::json!("-10: 11 snapshots"));
}
