//! `compactor status`: every table's health at a glance, from its committed metadata and the
//! run history in the catalog database; nothing is changed.
//!
//! Per table: files, small files, average file size against the target, manifests, snapshots,
//! oldest partition against its retention cutoff and the bytes past it, the last pass of each
//! job, the warning signs that fire ([`crate::warnings`]) and a health score with its reasons.

use chrono::{DateTime, Utc};
use common::TableKind;
use common::catalog::{OtherTable, SignalCatalog, list_other_tables, list_signal_tables};
use common::config::CompactorConfig;
use common::partition::hour_label;
use common::tables::TableId;
use serde::Serialize;

use crate::job::{JobKind, Scope};
use crate::retention::TablePolicy;
use crate::state::{Holder, RecentRuns, RunOutcome, RunRecord, Runs, StateStore};
use crate::table_state::TableState;
use crate::warnings::{
    UNMERGED_MANIFESTS, Warning, config_warnings, cutoff_hour, job_interval, table_warnings,
};

/// A table is healthy while its score is at least this.
pub const HEALTHY_SCORE: u8 = 70;

/// The status of every table in a scope.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// When it was read.
    pub generated_at: DateTime<Utc>,
    /// Warning signs of the configuration alone.
    pub config_warnings: Vec<Warning>,
    /// Every table in scope, sorted.
    pub tables: Vec<TableStatus>,
    /// Tables of tenants' namespaces in scope that are not signal tables: not maintained,
    /// never touched.
    pub not_maintained: Vec<OtherTable>,
    /// Failures not tied to one table (the catalog could not be listed).
    pub errors: Vec<String>,
}

impl StatusReport {
    /// Tables that are unhealthy or could not be read.
    pub fn unhealthy(&self) -> usize {
        self.tables.iter().filter(|t| !t.health.healthy).count()
    }
}

/// One table's status.
#[derive(Debug, Clone, Serialize)]
pub struct TableStatus {
    /// Tenant id.
    pub tenant: String,
    /// Dataset id.
    pub dataset: String,
    /// The table.
    pub table: TableKind,
    /// What its committed metadata says; absent when it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<TableState>,
    /// `target_file_size_bytes`, which the average file size is measured against.
    pub target_file_size_bytes: u64,
    /// The table's retention.
    pub retention: RetentionStatus,
    /// The last pass of each job.
    pub jobs: Vec<JobStatus>,
    /// The warning signs that fire.
    pub warnings: Vec<Warning>,
    /// The health score and its reasons.
    pub health: Health,
    /// The live lease on the table: which instance works on it now, for which job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<Holder>,
    /// Why the table (or its history) could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A table's retention as status sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionStatus {
    /// Whether the retention job is enabled.
    pub enabled: bool,
    /// Whether it runs in dry run.
    pub dry_run: bool,
    /// Days the table's data is kept.
    pub days: u32,
    /// Partitions entirely before this are past retention.
    pub cutoff: DateTime<Utc>,
    /// The oldest partition holding data, as `YYYY-MM-DD-HH`.
    pub oldest_hour: Option<String>,
    /// Data files past the cutoff.
    pub files_past_retention: u64,
    /// Their bytes.
    pub bytes_past_retention: u64,
}

/// The last pass of one job on a table.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// The job.
    pub job: JobKind,
    /// Whether its scheduler is enabled.
    pub enabled: bool,
    /// Its newest pass in the run history.
    pub last_run: Option<RunRecord>,
    /// Seconds since its newest successful pass.
    pub last_success_age_secs: Option<i64>,
}

/// A health score from 0 to 100 and what lowered it.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// 100 is perfect; below [`HEALTHY_SCORE`] is unhealthy.
    pub score: u8,
    /// Whether the score is at least [`HEALTHY_SCORE`].
    pub healthy: bool,
    /// One line per deduction.
    pub reasons: Vec<String>,
}

/// Reads the status of every table of `catalog` in `scope` under configuration `c` at `now`.
pub async fn status(
    catalog: &SignalCatalog,
    c: &CompactorConfig,
    scope: &Scope,
    now: DateTime<Utc>,
) -> StatusReport {
    let mut report = StatusReport {
        generated_at: now,
        config_warnings: config_warnings(c),
        tables: Vec::new(),
        not_maintained: Vec::new(),
        errors: Vec::new(),
    };
    let (tenant, dataset) = (scope.tenant.as_deref(), scope.dataset.as_deref());
    match list_other_tables(catalog, tenant, dataset).await {
        Ok(other) => report.not_maintained = other,
        Err(e) => report.errors.push(e.to_string()),
    }
    let ids = match list_signal_tables(catalog, scope.tenant.as_deref(), scope.dataset.as_deref())
        .await
    {
        Ok(ids) => ids.into_iter().filter(|id| scope.contains(id)).collect::<Vec<_>>(),
        Err(e) => {
            report.errors.push(e.to_string());
            return report;
        }
    };
    let store = StateStore::open(catalog).await;
    let history = store.as_ref().map(StateStore::runs).map_err(|e| e.to_string());
    let held = match &store {
        Ok(store) => store.leases().holders().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let held = held.unwrap_or_else(|e| {
        report.errors.push(e);
        Vec::new()
    });
    for id in ids {
        let mut table = table_status(catalog, c, &history, &id, now).await;
        let (namespace, name) = (id.ident().namespace().join("."), id.table.as_str());
        table.lease = held.iter().find(|h| h.namespace == namespace && h.table == name).cloned();
        report.tables.push(table);
    }
    report
}

async fn table_status(
    catalog: &SignalCatalog,
    c: &CompactorConfig,
    history: &Result<Runs, String>,
    id: &TableId,
    now: DateTime<Utc>,
) -> TableStatus {
    let mut errors = Vec::new();
    let state = match catalog.load_table(&id.ident()).await {
        Ok(table) => match TableState::read(&table, c.small_file_threshold_bytes).await {
            Ok(state) => Some(state),
            Err(e) => {
                errors.push(format!("reading the manifests: {e}"));
                None
            }
        },
        Err(e) => {
            errors.push(format!("loading the table metadata: {e}"));
            None
        }
    };
    let runs = match history {
        Ok(history) => history.recent(id).await.unwrap_or_else(|e| {
            errors.push(e.to_string());
            RecentRuns::default()
        }),
        Err(e) => {
            errors.push(e.clone());
            RecentRuns::default()
        }
    };
    let policy = TablePolicy::resolve(&c.retention, id, now);
    let past = state.as_ref().map(|s| s.before(cutoff_hour(policy.cutoff))).unwrap_or_default();
    let retention = RetentionStatus {
        enabled: c.retention.enabled,
        dry_run: c.retention.dry_run,
        days: policy.days,
        cutoff: policy.cutoff,
        oldest_hour: state.as_ref().and_then(|s| s.oldest_hour).map(hour_label),
        files_past_retention: past.files,
        bytes_past_retention: past.bytes,
    };
    let jobs = runs
        .by_job
        .iter()
        .map(|(job, newest, success)| JobStatus {
            job: *job,
            enabled: job_interval(c, *job).is_some(),
            last_run: newest.clone(),
            last_success_age_secs: success.as_ref().map(|s| (now - s.finished_at).num_seconds()),
        })
        .collect::<Vec<_>>();
    let warnings = state.as_ref().map(|s| table_warnings(c, id, s, &runs, now)).unwrap_or_default();
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    let health = health(c, state.as_ref(), &jobs, &warnings, error.as_deref(), now);
    TableStatus {
        tenant: id.tenant.clone(),
        dataset: id.dataset.clone(),
        table: id.table,
        state,
        target_file_size_bytes: c.target_file_size_bytes,
        retention,
        jobs,
        warnings,
        health,
        lease: None,
        error,
    }
}

/// The health score of a table in `state` (Amoro's idea of a table health score: small files,
/// delete files and metadata growth each cost points), less 20 per warning sign and 15 when a
/// job's newest pass failed.
pub fn health(
    c: &CompactorConfig,
    state: Option<&TableState>,
    jobs: &[JobStatus],
    warnings: &[Warning],
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Health {
    let mut reasons = Vec::new();
    let mut score: i64 = 100;
    let mut lose = |points: i64, reason: String| {
        if points > 0 {
            score -= points;
            reasons.push(format!("-{points}: {reason}"));
        }
    };
    let Some(state) = state else {
        lose(100, format!("the table cannot be read: {}", error.unwrap_or("unknown error")));
        return Health { score: 0, healthy: false, reasons };
    };
    if let Some(reason) = &state.not_maintainable {
        lose(50, format!("the compactor cannot maintain the table: {reason}"));
    }
    // Small files in closed partitions with enough of them to compact: compaction's backlog.
    let quiet = chrono::Duration::from_std(c.quiet_period()).unwrap_or(chrono::Duration::zero());
    let closed = cutoff_hour(now - quiet);
    let backlog: u64 = state
        .ended_by(closed)
        .filter(|h| h.small_files >= c.min_input_files as u64)
        .map(|h| h.small_files)
        .sum();
    if state.data_files > 0 && backlog > 0 {
        let ratio = backlog as f64 / state.data_files as f64;
        lose(
            (40.0 * ratio).ceil() as i64,
            format!(
                "{backlog} small files in closed partitions are waiting for compaction ({:.0}% of \
                 the data files)",
                100.0 * ratio
            ),
        );
    }
    if state.delete_files > 0 {
        let ratio = (state.delete_files as f64 / state.data_files.max(1) as f64).min(1.0);
        lose(
            (20.0 * ratio).ceil() as i64,
            format!(
                "{} delete files ({} rows) in {} partitions for {} data files; compaction applies \
                 them when it rewrites their data files",
                state.delete_files,
                state.delete_rows,
                state.deletes_by_partition.len(),
                state.data_files
            ),
        );
    }
    let manifest_limit = (c.manifest_merge_min_count as u64).max(UNMERGED_MANIFESTS);
    if state.manifests > manifest_limit {
        lose(15, format!("{} manifests (more than {manifest_limit})", state.manifests));
    }
    let snapshot_limit = 2 * c.retention.snapshots_to_keep.max(1) as u64;
    if state.snapshots > snapshot_limit {
        lose(10, format!("{} snapshots (more than {snapshot_limit})", state.snapshots));
    }
    for w in warnings {
        lose(20, format!("warning {}", w.check));
    }
    for j in jobs.iter().filter(|j| j.enabled) {
        if let Some(run) = j.last_run.as_ref().filter(|r| r.outcome == RunOutcome::Failure) {
            let error = run.error.as_deref().unwrap_or("no error recorded");
            lose(15, format!("the last {} pass failed: {error}", j.job));
        }
    }
    if let Some(error) = error {
        lose(10, format!("part of the status could not be read: {error}"));
    }
    let score = score.clamp(0, 100) as u8;
    Health { score, healthy: score >= HEALTHY_SCORE, reasons }
}

/// The human form of `report`: one row per table, then each table's reasons and warnings.
pub fn render(report: &StatusReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:>7} {:>6} {:>9} {:>5} {:>5} {:<13} {:>10} {:<9} {:<9} {:<9} {:>6}",
        "TABLE",
        "FILES",
        "SMALL",
        "AVG/TGT",
        "MANIF",
        "SNAPS",
        "OLDEST",
        "PAST-RET",
        "COMPACT",
        "RETAIN",
        "ORPHANS",
        "HEALTH"
    );
    for t in &report.tables {
        let name = format!("{}.{}.{}", t.tenant, t.dataset, t.table);
        let s = t.state.clone().unwrap_or_default();
        let ratio = if t.target_file_size_bytes > 0 {
            s.average_file_bytes() as f64 / t.target_file_size_bytes as f64
        } else {
            0.0
        };
        let job = |kind: JobKind| {
            let j = t.jobs.iter().find(|j| j.job == kind);
            match j.and_then(|j| j.last_run.as_ref()) {
                _ if j.is_some_and(|j| !j.enabled) => "off".to_string(),
                None => "-".to_string(),
                Some(run) => format!("{} {}", short(run.outcome), age(report.generated_at, run)),
            }
        };
        let health = if t.health.healthy { "ok" } else { "BAD" };
        let _ = writeln!(
            out,
            "{name:<28} {:>7} {:>6} {:>9.2} {:>5} {:>5} {:<13} {:>10} {:<9} {:<9} {:<9} {:>3} {health}",
            s.data_files,
            s.small_files,
            ratio,
            s.manifests,
            s.snapshots,
            t.retention.oldest_hour.as_deref().unwrap_or("-"),
            t.retention.bytes_past_retention,
            job(JobKind::Compaction),
            job(JobKind::Retention),
            job(JobKind::OrphanCleanup),
            t.health.score,
        );
        if let Some(l) = &t.lease {
            let from = l.taken_from.as_ref().map(|f| format!(", taken over from {f}"));
            let until = l.expires_at.format("%H:%M:%S");
            let from = from.unwrap_or_default();
            let _ = writeln!(out, "  lease {} held by {} until {until}Z{from}", l.job, l.owner);
        }
        for w in &t.warnings {
            let _ = writeln!(out, "  warning {}: {}", w.check, w.message);
        }
        for r in t.health.reasons.iter().filter(|r| !r.contains(": warning ")) {
            let _ = writeln!(out, "  health {r}");
        }
    }
    for o in &report.not_maintained {
        let name = format!("{}.{}.{}", o.tenant, o.dataset, o.table);
        let _ = writeln!(out, "not maintained {name}: {}", o.reason);
    }
    for w in &report.config_warnings {
        let _ = writeln!(out, "config warning {}: {}", w.check, w.message);
    }
    for e in &report.errors {
        let _ = writeln!(out, "error: {e}");
    }
    let _ = writeln!(
        out,
        "{} table(s), {} unhealthy (health below {HEALTHY_SCORE})",
        report.tables.len(),
        report.unhealthy()
    );
    out
}

fn short(outcome: RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Success => "ok",
        RunOutcome::Failure => "FAIL",
        RunOutcome::DryRun => "dry",
    }
}

/// How long ago `run` finished, coarsely (`42s`, `17m`, `5h`, `3d`).
fn age(now: DateTime<Utc>, run: &RunRecord) -> String {
    let secs = (now - run.finished_at).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests;
