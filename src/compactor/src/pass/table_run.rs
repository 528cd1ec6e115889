//! What one table's run produced: the report line, the state it left, when it ran. Every
//! after-table sink reads this one struct.

use chrono::{DateTime, Utc};
use common::tables::TableId;

use crate::changes::Changes;
use crate::failure::Failure;
use crate::job::JobKind;
use crate::report::{TableOutcome, TableReport};
use crate::table_state::TableState;

/// One job's run on one table, as soon as it finished.
#[derive(Debug, Clone)]
pub struct TableRun {
    /// The table.
    pub id: TableId,
    /// The job.
    pub job: JobKind,
    /// Whether the pass was a dry run.
    pub dry_run: bool,
    /// The instance that ran it (empty when the pass takes no leases).
    pub instance: String,
    /// Its line in the pass's report (summary, failure, typed outcome, skip).
    pub report: TableReport,
    /// The failure, typed; the report carries its message.
    pub failure: Option<Failure>,
    /// The table as committed after the run; `None` when it could not be read.
    pub state: Option<TableState>,
    /// The metadata file the step read; `None` when it did not run.
    pub metadata_location: Option<String>,
    /// When work on the table started (inside its lease, when it took one).
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
}

impl TableRun {
    /// Marks the run failed with `failure`: the one place its failure, and the report's
    /// message and kind of it, are set together.
    pub(crate) fn fail(&mut self, failure: Failure) {
        self.report.error = Some(failure.message.clone());
        self.report.error_kind = Some(failure.kind);
        self.failure = Some(failure);
    }

    /// What the run changed in the table, as its outcome says.
    pub fn changes(&self) -> Changes {
        self.report.details.as_ref().map(TableOutcome::changes).unwrap_or_default()
    }

    /// Whether the step ran and found nothing to do (and nothing time alone makes due before
    /// the next full check), without any failure.
    pub fn idle(&self) -> bool {
        self.failure.is_none()
            && !self.skipped()
            && self.report.details.as_ref().is_some_and(TableOutcome::idle)
    }

    /// Whether the table was left to another instance or job holding its lease.
    pub fn skipped(&self) -> bool {
        self.report.skipped.is_some()
    }
}
