//! A job's work on one table: the [`TableStep`] trait, what a step may use
//! ([`TableContext`]), and what it returns ([`StepOutcome`] with the job's own typed outcome).
//!
//! A step knows nothing of passes, reports or metrics: the pass runs it on every table in scope
//! and wrappers (metrics) are assembled around it.

use std::sync::Arc;

use async_trait::async_trait;
use common::catalog::{CatalogError, SignalCatalog};
use common::tables::TableId;
use iceberg::table::Table;
use tokio_util::sync::CancellationToken;

use crate::failure::{Classify, Failure, FailureKind};
use crate::job::{JobKind, Scope};
use crate::live_files::{ManifestCache, RUN_MANIFEST_ENTRIES};
use crate::state::Fence;
use crate::table_state::TableState;

/// Size of a table as its current metadata states it (no file is listed or opened).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableStats {
    /// Live data files in the current snapshot.
    pub data_files: u64,
    /// Bytes of those files.
    pub data_bytes: u64,
    /// Snapshots kept in the metadata.
    pub snapshots: u64,
}

impl TableStats {
    /// Reads the totals from the current snapshot's summary.
    pub fn of(table: &Table) -> Self {
        let md = table.metadata();
        let total = |key: &str| {
            md.current_snapshot()
                .and_then(|s| s.summary().additional_properties.get(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Self {
            data_files: total("total-data-files"),
            data_bytes: total("total-files-size"),
            snapshots: md.snapshots().len() as u64,
        }
    }
}

/// Everything a step may use while working on one table.
pub struct TableContext<'a> {
    /// Which table.
    pub id: &'a TableId,
    /// The table as loaded at the start of the step.
    pub table: &'a Table,
    /// The catalog, to reload or commit.
    pub catalog: &'a SignalCatalog,
    /// The pass's scope (dry run included).
    pub scope: &'a Scope,
    /// Fires when the service shuts down: stop at the next safe point.
    pub cancel: &'a CancellationToken,
    /// The table's size before the step.
    pub stats: TableStats,
    /// The lease the step's commits must still hold, when the pass took one.
    pub fence: Option<Fence>,
    /// What is known of the table's files, shared by the step's reads and commits and the
    /// state read after it: starts with `table` and keeps each table the step commits.
    pub files: Arc<ManifestCache>,
}

impl<'a> TableContext<'a> {
    /// The context of a step on `table` (loaded as `id` from `catalog`), its stats read from
    /// the table's current snapshot.
    pub fn new(
        id: &'a TableId,
        table: &'a Table,
        catalog: &'a SignalCatalog,
        scope: &'a Scope,
        cancel: &'a CancellationToken,
    ) -> Self {
        let files = Arc::new(ManifestCache::with_manifests(RUN_MANIFEST_ENTRIES));
        files.remember_table(table);
        let stats = TableStats::of(table);
        Self { id, table, catalog, scope, cancel, stats, fence: None, files }
    }

    /// This context with commits fenced by `fence`.
    pub fn fenced(self, fence: Option<Fence>) -> Self {
        Self { fence, ..self }
    }
}

/// What a step did to one table: a summary line and the job's typed outcome `O`.
#[derive(Debug, Clone)]
pub struct StepOutcome<O> {
    /// One-line human summary.
    pub summary: String,
    /// What the step found and did.
    pub details: O,
    /// Set when part of the work failed (the table counts as failed, with these details).
    pub error: Option<Failure>,
}

impl<O> StepOutcome<O> {
    /// Work that fully succeeded.
    pub fn ok(summary: String, details: O) -> Self {
        Self { summary, details, error: None }
    }
}

/// A step's failure on one table, before it produced an outcome.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The Iceberg library or catalog refused an operation.
    #[error("{action}: {source}")]
    Iceberg {
        /// What was being done.
        action: String,
        /// The underlying error.
        source: Box<iceberg::Error>,
    },
    /// The catalog database failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The table does not fit the configuration (a configured sort column it lacks).
    #[error("{0}")]
    Unfit(String),
}

impl Classify for StepError {
    fn failure_kind(&self) -> FailureKind {
        match self {
            Self::Iceberg { source, .. } => FailureKind::of_iceberg(source),
            Self::Catalog(_) => FailureKind::Catalog,
            Self::Unfit(_) => FailureKind::UnfitTable,
        }
    }
}

impl StepError {
    /// An [`StepError::Iceberg`] error while doing `action`.
    pub fn iceberg(action: &str) -> impl FnOnce(iceberg::Error) -> Self + '_ {
        move |source| Self::Iceberg { action: action.to_string(), source: Box::new(source) }
    }
}

/// The job-specific work on one table.
#[async_trait]
pub trait TableStep: Send + Sync + 'static {
    /// The step's typed outcome on one table.
    type Outcome: Send + Sync + 'static;

    /// What the step prepares once per pass and shares across the pass's tables (orphan
    /// cleanup: every table's location); `()` for steps that need nothing.
    type Pass: Send + Sync + 'static;

    /// Which job this step belongs to.
    fn kind(&self) -> JobKind;

    /// Prepares a pass over the tables of `catalog` before any table is worked on; an error
    /// fails the whole pass.
    async fn begin_pass(
        &self,
        catalog: &SignalCatalog,
        scope: &Scope,
    ) -> Result<Self::Pass, Failure>;

    /// How urgently a table in `state` (as the last pass left it) needs this job: a pass
    /// takes the tables with the largest values first. Every table is equally urgent unless
    /// the step says otherwise.
    fn urgency(&self, _state: &TableState) -> i64 {
        0
    }

    /// Works on one table, with what [`TableStep::begin_pass`] prepared.
    async fn run_table(
        &self,
        pass: &Self::Pass,
        cx: TableContext<'_>,
    ) -> Result<StepOutcome<Self::Outcome>, StepError>;

    /// Sees the outcome of every table the pass worked on (metrics summarise them per
    /// dataset).
    fn finish_pass(&self, _outcomes: &[(&TableId, &Self::Outcome)]) {}
}
