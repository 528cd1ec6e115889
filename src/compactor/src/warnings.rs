//! Warning signs: configurations and table states that quietly let storage or metadata grow,
//! each a named check with a message saying what to change.
//!
//! Configuration checks need only the configuration (`check-config` prints them); table checks
//! look at a table's committed state and its run history. Both feed the
//! `compactor_warnings{check,tenant,dataset,table}` gauge and `compactor status`.

use chrono::{DateTime, Utc};
use common::Signal;
use common::config::CompactorConfig;
use common::partition::hour_of_micros;
use common::tables::TableId;
use serde::Serialize;

use crate::job::JobSpec;
use crate::retention::TablePolicy;
use crate::state::{RecentRuns, RunOutcome};
use crate::table_state::TableState;

/// Passes without success, in units of the job's interval, after which a job is reported.
pub(crate) const INTERVALS_WITHOUT_SUCCESS: u32 = 3;

/// Manifests a table may list while merging is off before its metadata counts as growing.
pub(crate) const UNMERGED_MANIFESTS: u64 = 100;

/// The configuration checks, by name (the `check` label of `compactor_warnings`).
pub(crate) const CONFIG_CHECKS: &[&str] =
    &[ORPHAN_CLEANUP_DISABLED, COMPACTION_INTERVAL_EXCEEDS_RETENTION, GRACE_EXCEEDS_RETENTION];

/// The table checks, by name.
pub(crate) const TABLE_CHECKS: &[&str] = &[
    STORAGE_GROWS_DESPITE_RETENTION,
    COMPACTION_WITHOUT_GAIN,
    SNAPSHOTS_UNBOUNDED,
    MANIFESTS_UNBOUNDED,
    JOB_NOT_SUCCEEDING,
    TABLE_NOT_MAINTAINABLE,
];

/// Retention drops partitions but nothing deletes the files they release.
pub(crate) const ORPHAN_CLEANUP_DISABLED: &str = "orphan_cleanup_disabled";
/// Compaction runs less often than the shortest retention period lasts.
pub(crate) const COMPACTION_INTERVAL_EXCEEDS_RETENTION: &str =
    "compaction_interval_exceeds_retention";
/// The retention grace period is longer than a retention period.
pub(crate) const GRACE_EXCEEDS_RETENTION: &str = "grace_exceeds_retention";
/// Data older than its retention cutoff stays because retention is off or in dry run.
pub(crate) const STORAGE_GROWS_DESPITE_RETENTION: &str = "storage_grows_despite_retention";
/// The last compaction that rewrote files did not reduce their count or bytes.
pub(crate) const COMPACTION_WITHOUT_GAIN: &str = "compaction_without_gain";
/// Snapshots accumulate because snapshot expiration (retention) is off or in dry run.
pub(crate) const SNAPSHOTS_UNBOUNDED: &str = "snapshots_unbounded";
/// Manifests accumulate because merging is off or failing.
pub(crate) const MANIFESTS_UNBOUNDED: &str = "manifests_unbounded";
/// An enabled job has not succeeded on the table for several intervals.
pub(crate) const JOB_NOT_SUCCEEDING: &str = "job_not_succeeding";
/// The table's partition spec has no time partition the compactor understands, so neither
/// compaction nor retention can act on its new files.
pub(crate) const TABLE_NOT_MAINTAINABLE: &str = "table_not_maintainable";

/// One warning sign that fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The check's name.
    pub check: &'static str,
    /// What is wrong and what to change.
    pub message: String,
}

impl Warning {
    fn new(check: &'static str, message: String) -> Self {
        Self { check, message }
    }
}

/// The configuration-only warning signs of `c`. An admin API without a token is none: open
/// reads and refused changes are its documented default.
pub fn config_warnings(c: &CompactorConfig) -> Vec<Warning> {
    let r = &c.retention;
    let mut out = Vec::new();
    let retention_acts = r.enabled && !r.dry_run;
    if retention_acts && (!c.orphan_cleanup.enabled || c.orphan_cleanup.dry_run) {
        out.push(Warning::new(
            ORPHAN_CLEANUP_DISABLED,
            "retention drops partitions but orphan cleanup is disabled or in dry run, so the \
             files they release are never deleted: enable [compactor.orphan_cleanup]"
                .to_string(),
        ));
    }
    let shortest = shortest_retention_days(c);
    let shortest_secs = u64::from(shortest) * 86_400;
    if c.enabled && c.compaction_interval_secs > shortest_secs {
        out.push(Warning::new(
            COMPACTION_INTERVAL_EXCEEDS_RETENTION,
            format!(
                "compaction_interval_secs ({}) is longer than the shortest retention period \
                 ({shortest} days): partitions are dropped before they are compacted; \
                 lower compaction_interval_secs",
                c.compaction_interval_secs
            ),
        ));
    }
    if r.enabled && u64::from(r.grace_period_hours) > u64::from(shortest) * 24 {
        out.push(Warning::new(
            GRACE_EXCEEDS_RETENTION,
            format!(
                "retention grace_period_hours ({}) is longer than the shortest retention period \
                 ({shortest} days): data is kept more than twice as long as configured",
                r.grace_period_hours
            ),
        ));
    }
    out
}

/// The shortest retention period, in days, over the global defaults and every override.
fn shortest_retention_days(c: &CompactorConfig) -> u32 {
    let r = &c.retention;
    let global = Signal::ALL.map(|s| r.global_days(s));
    let overrides = r.tenant_overrides.iter().flat_map(|t| {
        let tenant = Signal::ALL.map(|s| t.days(s));
        let datasets = t.dataset_overrides.iter().flat_map(|d| Signal::ALL.map(|s| d.days(s)));
        tenant.into_iter().chain(datasets).flatten()
    });
    global.into_iter().chain(overrides).min().unwrap_or(u32::MAX).max(1)
}

/// The warning signs of table `id`, whose committed state is `state`, under configuration `c`
/// at `now`.
pub(crate) fn table_warnings(
    c: &CompactorConfig,
    id: &TableId,
    state: &TableState,
    runs: &RecentRuns,
    now: DateTime<Utc>,
) -> Vec<Warning> {
    let r = &c.retention;
    let mut out = Vec::new();
    if let Some(reason) = &state.not_maintainable {
        out.push(Warning::new(
            TABLE_NOT_MAINTAINABLE,
            format!(
                "the compactor cannot maintain this table: {reason}; its files are neither \
                 compacted nor expired until it is partitioned by hour() or day() of a \
                 timestamp column"
            ),
        ));
    }
    let retention_acts = r.enabled && !r.dry_run;
    let policy = TablePolicy::resolve(r, id, now);
    let past = state.before(cutoff_hour(policy.cutoff));
    if !retention_acts && past.bytes > 0 {
        out.push(Warning::new(
            STORAGE_GROWS_DESPITE_RETENTION,
            format!(
                "{} bytes in {} files are older than the {}-day retention cutoff ({}) but \
                 retention is {}: storage grows despite retention",
                past.bytes,
                past.files,
                policy.days,
                policy.cutoff.format("%Y-%m-%dT%H:%M:%SZ"),
                if r.enabled { "in dry run" } else { "disabled" }
            ),
        ));
    }
    if let Some(run) = &runs.last_rewrite {
        let ch = run.changes;
        // Merged files carry a few more footers' worth of page indexes and bloom filters, and
        // copied row groups keep their encoding: a tenth more bytes is still a gain when the
        // file count went down.
        let grew = ch.bytes_added > ch.bytes_removed.saturating_add(ch.bytes_removed / 10);
        if ch.files_added >= ch.files_removed || grew {
            out.push(Warning::new(
                COMPACTION_WITHOUT_GAIN,
                format!(
                    "the last compaction that rewrote files turned {} files ({} bytes) into {} \
                     ({} bytes): compaction runs but size does not shrink; check \
                     target_file_size_bytes and small_file_threshold_bytes",
                    ch.files_removed, ch.bytes_removed, ch.files_added, ch.bytes_added
                ),
            ));
        }
    }
    if !retention_acts && state.snapshots > r.snapshots_to_keep as u64 {
        out.push(Warning::new(
            SNAPSHOTS_UNBOUNDED,
            format!(
                "{} snapshots are kept (snapshots_to_keep = {}) and snapshot expiration, part \
                 of retention, is {}: metadata grows without bound",
                state.snapshots,
                r.snapshots_to_keep,
                if r.enabled { "in dry run" } else { "disabled" }
            ),
        ));
    }
    let merging = c.enabled && !c.dry_run && c.manifest_merge_min_count > 0;
    let limit = if merging { 2 * c.manifest_merge_min_count as u64 } else { UNMERGED_MANIFESTS };
    if state.manifests > limit {
        let why = if merging { "merging is failing" } else { "manifest merging is off" };
        out.push(Warning::new(
            MANIFESTS_UNBOUNDED,
            format!(
                "the current snapshot lists {} manifests (more than {limit}) and {why}: query \
                 planning reads every one",
                state.manifests
            ),
        ));
    }
    for (job, newest, success) in &runs.by_job {
        let spec = JobSpec::of(c, *job);
        if !spec.enabled {
            continue;
        }
        let interval = spec.interval;
        let Some(newest) = newest else { continue };
        // The history records a pass that changed nothing once per full-check interval.
        let window = interval * INTERVALS_WITHOUT_SUCCESS + c.full_check_interval();
        let since = |t: DateTime<Utc>| (now - t).to_std().unwrap_or_default();
        let stale = success.as_ref().is_none_or(|s| since(s.finished_at) > window);
        if stale && (newest.outcome == RunOutcome::Failure || since(newest.finished_at) > window) {
            let last = success.as_ref().map_or_else(
                || "never in the kept history".to_string(),
                |s| format!("last at {}", s.finished_at.format("%Y-%m-%dT%H:%M:%SZ")),
            );
            out.push(Warning::new(
                JOB_NOT_SUCCEEDING,
                format!(
                    "{job} has not succeeded on this table for {INTERVALS_WITHOUT_SUCCESS} \
                     intervals ({}s each; {last}){}",
                    interval.as_secs(),
                    newest.error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default()
                ),
            ));
        }
    }
    out
}

/// The first hour partition that is not entirely older than `cutoff`.
pub(crate) fn cutoff_hour(cutoff: DateTime<Utc>) -> i64 {
    hour_of_micros(cutoff.timestamp_micros())
}

#[cfg(test)]
mod tests;
