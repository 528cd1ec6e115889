//! What a maintenance job is to the rest of the service: one component with one entry point,
//! [`Job::run`], that does one pass over the tables in a [`Scope`] and returns a [`JobReport`].
//!
//! Schedulers decide when a job runs, one-shot commands run it once; neither knows what it does.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::Signal;
use common::tables::TableId;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// The three maintenance jobs, in lifecycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Merging small files into target-size files.
    Compaction,
    /// Dropping expired partitions and expiring old snapshots.
    Retention,
    /// Deleting files no snapshot references.
    OrphanCleanup,
}

impl JobKind {
    /// Every job, in the order a full lifecycle pass runs them.
    pub const ALL: [JobKind; 3] = [JobKind::Compaction, JobKind::Retention, JobKind::OrphanCleanup];

    /// The `job` label value and log name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Compaction => "compaction",
            JobKind::Retention => "retention",
            JobKind::OrphanCleanup => "orphan_cleanup",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which tables a pass covers and whether it may change anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// Only this tenant's tables, when set.
    pub tenant: Option<String>,
    /// Only this dataset's tables, when set.
    pub dataset: Option<String>,
    /// Only this signal's tables, when set.
    pub signal: Option<Signal>,
    /// Report what would be done and change nothing.
    pub dry_run: bool,
    /// Only these tables, when set (the orphan cleanup that follows retention covers the
    /// tables retention changed).
    #[serde(skip)]
    pub tables: Option<BTreeSet<TableId>>,
}

impl Scope {
    /// Whether `table` is inside this scope.
    pub fn contains(&self, table: &TableId) -> bool {
        self.tenant.as_deref().is_none_or(|t| table.tenant == t)
            && self.dataset.as_deref().is_none_or(|d| table.dataset == d)
            && self.signal.is_none_or(|s| table.signal == s)
            && self.tables.as_ref().is_none_or(|tables| tables.contains(table))
    }
}

/// The result of one pass of a job over one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    /// Tenant id.
    pub tenant: String,
    /// Dataset id.
    pub dataset: String,
    /// Table (signal) name.
    pub table: Signal,
    /// `None` when the pass succeeded for this table; the error otherwise.
    pub error: Option<String>,
    /// One-line human summary of what was done (or would be done).
    pub summary: String,
    /// Machine-readable details, job-specific.
    pub details: serde_json::Value,
}

impl TableReport {
    /// A successful pass over `table`.
    pub fn ok(table: &TableId, summary: String, details: serde_json::Value) -> Self {
        Self {
            tenant: table.tenant.clone(),
            dataset: table.dataset.clone(),
            table: table.signal,
            error: None,
            summary,
            details,
        }
    }

    /// A failed pass over `table`.
    pub fn failed(table: &TableId, error: String) -> Self {
        Self {
            tenant: table.tenant.clone(),
            dataset: table.dataset.clone(),
            table: table.signal,
            summary: format!("failed: {error}"),
            error: Some(error),
            details: serde_json::Value::Null,
        }
    }
}

/// The result of one pass of one job.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    /// Which job ran.
    pub job: JobKind,
    /// Whether it ran in dry-run mode.
    pub dry_run: bool,
    /// When the pass started.
    pub started_at: DateTime<Utc>,
    /// How long it took, in seconds.
    pub duration_secs: f64,
    /// Per-table results, sorted by table.
    pub tables: Vec<TableReport>,
    /// Failures not tied to one table (catalog unreachable, listing failed).
    pub errors: Vec<String>,
}

impl JobReport {
    /// An empty report for a pass of `job` starting at `started_at`.
    pub fn new(job: JobKind, dry_run: bool, started_at: DateTime<Utc>) -> Self {
        Self {
            job,
            dry_run,
            started_at,
            duration_secs: 0.0,
            tables: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Records the pass's duration.
    pub fn finish(mut self, elapsed: Duration) -> Self {
        self.duration_secs = elapsed.as_secs_f64();
        self
    }

    /// How many failures the pass had (per table and overall).
    pub fn failures(&self) -> usize {
        self.errors.len() + self.tables.iter().filter(|t| t.error.is_some()).count()
    }

    /// Whether everything in the pass succeeded.
    pub fn succeeded(&self) -> bool {
        self.failures() == 0
    }

    /// A short human summary: one line for the job, one per table, one per error.
    pub fn render_text(&self) -> String {
        let mode = if self.dry_run { " [DRY-RUN]" } else { "" };
        let mut out = format!(
            "{}{mode}: {} table(s), {} failure(s), {:.2}s\n",
            self.job,
            self.tables.len(),
            self.failures(),
            self.duration_secs
        );
        for t in &self.tables {
            out.push_str(&format!("  {}.{}.{}: {}\n", t.tenant, t.dataset, t.table, t.summary));
        }
        for e in &self.errors {
            out.push_str(&format!("  error: {e}\n"));
        }
        out
    }
}

/// One maintenance job: one pass over the tables in a scope.
///
/// A pass never fails as a whole: failures are recorded per table (or in
/// [`JobReport::errors`]) so that one broken table never stops the others. When `cancel`
/// fires, the pass finishes or abandons its in-flight commit cleanly and returns early.
#[async_trait]
pub trait Job: Send + Sync + 'static {
    /// Which job this is.
    fn kind(&self) -> JobKind;

    /// Runs one pass over the tables in `scope`.
    async fn run(&self, scope: &Scope, cancel: &CancellationToken) -> JobReport;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_filters_each_dimension() {
        let t = TableId::new("acme", "prod", Signal::Logs).unwrap();
        assert!(Scope::default().contains(&t));
        assert!(Scope { tenant: Some("acme".into()), ..Default::default() }.contains(&t));
        assert!(!Scope { tenant: Some("other".into()), ..Default::default() }.contains(&t));
        assert!(!Scope { dataset: Some("dev".into()), ..Default::default() }.contains(&t));
        assert!(!Scope { signal: Some(Signal::Traces), ..Default::default() }.contains(&t));
        let other = TableId::new("acme", "prod", Signal::Traces).unwrap();
        let only = Scope { tables: Some(BTreeSet::from([other])), ..Default::default() };
        assert!(!only.contains(&t));
        assert!(Scope { tables: Some(BTreeSet::from([t.clone()])), ..only }.contains(&t));
    }

    #[test]
    fn report_counts_table_and_global_failures() {
        let t = TableId::new("acme", "prod", Signal::Logs).unwrap();
        let mut r = JobReport::new(JobKind::Retention, true, Utc::now());
        r.tables.push(TableReport::ok(&t, "nothing to do".into(), serde_json::Value::Null));
        assert!(r.succeeded());
        r.tables.push(TableReport::failed(&t, "metadata unreadable".into()));
        r.errors.push("catalog unreachable".into());
        assert_eq!(r.failures(), 2);
        let text = r.render_text();
        assert!(text.starts_with("retention [DRY-RUN]: 2 table(s), 2 failure(s)"), "{text}");
        assert!(text.contains("acme.prod.logs: failed: metadata unreadable"), "{text}");
    }
}
