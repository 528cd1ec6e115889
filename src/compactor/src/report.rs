//! What a pass reports: per table, the typed outcome of the job's step ([`TableOutcome`]), and
//! per pass, the tables and the failures not tied to one table ([`JobReport`]).
//!
//! Outcomes stay typed everywhere inside the program (the lifecycle, the metrics and the text
//! reports read their fields); they become JSON only at the edge, in `--json` output.

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::TableKind;
use common::storage::counted::RequestCounts;
use common::tables::TableId;
use serde::Serialize;

use crate::compaction::CompactionOutcome;
use crate::failure::FailureKind;
use crate::job::JobKind;
use crate::orphan::report::OrphanReport;
use crate::retention::RetentionDetails;

/// What one job's step found and did on one table.
///
/// Serialised without a tag: the `details` of a table report are the step's own fields, as
/// each job documents them.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum TableOutcome {
    /// A compaction plan and, unless a dry run, what executing it did.
    Compaction(CompactionOutcome),
    /// A retention pass: policy, partitions dropped, snapshots expired.
    Retention(RetentionDetails),
    /// An orphan-file cleanup: reference set, scan, deletions.
    OrphanCleanup(OrphanReport),
}

impl From<CompactionOutcome> for TableOutcome {
    fn from(outcome: CompactionOutcome) -> Self {
        Self::Compaction(outcome)
    }
}

impl From<RetentionDetails> for TableOutcome {
    fn from(outcome: RetentionDetails) -> Self {
        Self::Retention(outcome)
    }
}

impl From<OrphanReport> for TableOutcome {
    fn from(outcome: OrphanReport) -> Self {
        Self::OrphanCleanup(outcome)
    }
}

/// A step's typed outcome as the pass handles it: it becomes the report's [`TableOutcome`]
/// and is read back as itself for the step's end-of-pass summary.
pub trait JobOutcome: Into<TableOutcome> + Send + Sync + 'static {
    /// This outcome, if `outcome` is one of its job's.
    fn of(outcome: &TableOutcome) -> Option<&Self>;
}

impl JobOutcome for CompactionOutcome {
    fn of(outcome: &TableOutcome) -> Option<&Self> {
        outcome.compaction()
    }
}

impl JobOutcome for RetentionDetails {
    fn of(outcome: &TableOutcome) -> Option<&Self> {
        outcome.retention()
    }
}

impl JobOutcome for OrphanReport {
    fn of(outcome: &TableOutcome) -> Option<&Self> {
        match outcome {
            TableOutcome::OrphanCleanup(o) => Some(o),
            _ => None,
        }
    }
}

impl TableOutcome {
    /// The compaction outcome, if this is one.
    pub fn compaction(&self) -> Option<&CompactionOutcome> {
        match self {
            Self::Compaction(c) => Some(c),
            _ => None,
        }
    }

    /// What the step changed in the table, as its own outcome says.
    pub fn changes(&self) -> crate::changes::Changes {
        match self {
            Self::Compaction(c) => c.changes(),
            Self::Retention(r) => r.changes(),
            Self::OrphanCleanup(o) => o.changes(),
        }
    }

    /// Whether the step found nothing to do on the table (and nothing time alone makes due
    /// before the pass's next full check), as its own outcome says.
    pub fn idle(&self) -> bool {
        match self {
            Self::Compaction(c) => c.idle(),
            Self::Retention(r) => r.idle(),
            Self::OrphanCleanup(o) => o.idle(),
        }
    }

    /// The retention outcome, if this is one.
    pub fn retention(&self) -> Option<&RetentionDetails> {
        match self {
            Self::Retention(r) => Some(r),
            _ => None,
        }
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
    pub table: TableKind,
    /// `None` when the pass succeeded for this table; the error otherwise.
    pub error: Option<String>,
    /// The kind of that error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<FailureKind>,
    /// One-line human summary of what was done (or would be done).
    pub summary: String,
    /// What the step found and did; `None` when it failed before producing anything.
    pub details: Option<TableOutcome>,
    /// Set when the pass left the table alone because another instance or job held its
    /// lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Skipped>,
    /// The object-store requests the table's run made (loading, the step, reading the state
    /// it left).
    pub requests: RequestCounts,
}

/// Why a pass left a table alone: who held its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The instance holding the lease; `None` when it was released before it could be read.
    pub held_by: Option<String>,
    /// The job it holds it for.
    pub job: Option<JobKind>,
    /// When that lease expires unless renewed.
    pub until: Option<DateTime<Utc>>,
}

impl TableReport {
    /// A successful pass over `table`.
    pub fn ok(table: &TableId, summary: String, details: TableOutcome) -> Self {
        Self {
            tenant: table.tenant.clone(),
            dataset: table.dataset.clone(),
            table: table.table,
            error: None,
            error_kind: None,
            summary,
            details: Some(details),
            skipped: None,
            requests: RequestCounts::default(),
        }
    }

    /// The report of a step on `table` that ended with `summary` and, when part of the work
    /// failed, `error`; its details are added by the pass.
    pub fn of(table: &TableId, summary: String, error: Option<String>) -> Self {
        Self {
            tenant: table.tenant.clone(),
            dataset: table.dataset.clone(),
            table: table.table,
            error,
            error_kind: None,
            summary,
            details: None,
            skipped: None,
            requests: RequestCounts::default(),
        }
    }

    /// A failed pass over `table`.
    pub fn failed(table: &TableId, error: String) -> Self {
        Self {
            tenant: table.tenant.clone(),
            dataset: table.dataset.clone(),
            table: table.table,
            summary: format!("failed: {error}"),
            error: Some(error),
            error_kind: None,
            details: None,
            skipped: None,
            requests: RequestCounts::default(),
        }
    }

    /// A table left alone because its lease was held as `skipped` says.
    pub fn skipped(table: &TableId, skipped: Skipped) -> Self {
        let summary = match (&skipped.held_by, &skipped.job) {
            (Some(owner), Some(job)) => format!("skipped: {owner} holds its {job} lease"),
            _ => "skipped: another instance held its lease".to_string(),
        };
        Self { skipped: Some(skipped), ..Self::of(table, summary, None) }
    }

    /// The table this report is about.
    pub fn id(&self) -> Option<TableId> {
        TableId::new(&self.tenant, &self.dataset, self.table).ok()
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
    /// Tables in scope the pass left unloaded: their metadata location is the one at which a
    /// pass of this job, within the full-check interval, found nothing to do on them.
    pub unchanged: usize,
    /// Failures not tied to one table (catalog unreachable, listing failed).
    pub errors: Vec<String>,
    /// The object-store requests of the whole pass: every table's, and those made outside
    /// any table (listing the tables in scope, the step's start and end).
    pub requests: RequestCounts,
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
            unchanged: 0,
            errors: Vec::new(),
            requests: RequestCounts::default(),
        }
    }

    /// Records the pass's duration.
    pub fn finish(mut self, elapsed: Duration) -> Self {
        self.duration_secs = elapsed.as_secs_f64();
        self
    }

    /// Sets the pass's requests: its tables' and `outside` (those made outside any table).
    pub fn with_requests(mut self, outside: RequestCounts) -> Self {
        self.requests = outside;
        self.requests += self.tables.iter().map(|t| t.requests).sum();
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
            "{}{mode}: {} table(s){}, {} failure(s), {:.2}s\n",
            self.job,
            self.tables.len(),
            if self.unchanged > 0 {
                format!(", {} unchanged and idle (not loaded)", self.unchanged)
            } else {
                String::new()
            },
            self.failures(),
            self.duration_secs
        );
        if self.requests.total() > 0 {
            out.push_str(&format!("  requests: {}\n", self.requests.render()));
        }
        for t in &self.tables {
            out.push_str(&format!("  {}.{}.{}: {}\n", t.tenant, t.dataset, t.table, t.summary));
        }
        for e in &self.errors {
            out.push_str(&format!("  error: {e}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orphan::report::OrphanReport;

    #[test]
    fn report_counts_table_and_global_failures() {
        let t = TableId::new("acme", "prod", TableKind::Logs).unwrap();
        let mut r = JobReport::new(JobKind::Retention, true, Utc::now());
        let nothing = TableOutcome::OrphanCleanup(OrphanReport::default());
        r.tables.push(TableReport::ok(&t, "nothing to do".into(), nothing));
        assert!(r.succeeded());
        r.tables.push(TableReport::failed(&t, "metadata unreadable".into()));
        r.errors.push("catalog unreachable".into());
        assert_eq!(r.failures(), 2);
        let text = r.render_text();
        assert!(text.starts_with("retention [DRY-RUN]: 2 table(s), 2 failure(s)"), "{text}");
        assert!(text.contains("acme.prod.logs: failed: metadata unreadable"), "{text}");
        assert!(!text.contains("requests:"), "none were made: {text}");
    }

    #[test]
    fn a_pass_counts_its_tables_requests_and_its_own() {
        let t = TableId::new("acme", "prod", TableKind::Logs).unwrap();
        let mut r = JobReport::new(JobKind::Compaction, false, Utc::now());
        for get in [10, 5] {
            let mut table = TableReport::of(&t, String::new(), None);
            table.requests = RequestCounts { get, put: 1, bytes_read: 2048, ..Default::default() };
            r.tables.push(table);
        }
        let own = RequestCounts { list: 1, ..Default::default() };
        let r = r.with_requests(own);
        let want =
            RequestCounts { get: 15, put: 2, list: 1, bytes_read: 4096, ..Default::default() };
        assert_eq!(r.requests, want);
        let text = r.render_text();
        assert!(
            text.contains("\n  requests: 18 (15 GET, 2 PUT, 1 LIST), 4.0 KiB read\n"),
            "{text}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["requests"]["get"], 15, "{json}");
        assert_eq!(json["tables"][0]["requests"]["bytes_read"], 2048, "{json}");
    }

    #[test]
    fn a_failed_table_serialises_null_details_and_an_outcome_its_own_fields() {
        let t = TableId::new("acme", "prod", TableKind::Logs).unwrap();
        let failed = serde_json::to_value(TableReport::failed(&t, "boom".into())).unwrap();
        assert!(failed["details"].is_null(), "{failed}");
        let ok =
            TableReport::ok(&t, String::new(), TableOutcome::OrphanCleanup(Default::default()));
        let ok = serde_json::to_value(ok).unwrap();
        assert_eq!(ok["details"]["dry_run"], serde_json::Value::Bool(false), "{ok}");
    }
}
