//! Runs an operator starts through the admin API: each one pass of a job over one table,
//! leased, fenced and recorded like a scheduled pass, followed by its id until it ends.
//!
//! At most one run per table and job is in flight, and at most `max_in_flight` over all
//! tables. A run is cancelled through its own token, a child of the process's shutdown: the
//! pass stops at its next safe point and commits nothing after it (see
//! `compaction::execute`). The registry lives in memory: a restart forgets the ids, while
//! the run history (`GET /runs`) keeps every pass that reached a table.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use common::clock::Clock;
use common::tables::TableId;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;
use utoipa::ToSchema;

use crate::job::{JobKind, Scope};
use crate::log_target;
use crate::pass::Job;
use crate::report::{JobReport, TableReport};

/// Finished runs kept for `GET /runs/{id}`; the oldest are forgotten first.
const KEPT_FINISHED: usize = 1_000;

/// A run's id: `run-` and 32 lowercase hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RunId(u128);

impl RunId {
    const PREFIX: &'static str = "run-";

    /// A new random id.
    fn random() -> Self {
        Self(uuid::Uuid::new_v4().as_u128())
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:032x}", Self::PREFIX, self.0)
    }
}

/// A string that is not a [`RunId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run id {0} is malformed: a run id is `run-` followed by 32 lowercase hexadecimal digits")]
pub(crate) struct InvalidRunId(String);

impl FromStr for RunId {
    type Err = InvalidRunId;

    fn from_str(s: &str) -> Result<Self, InvalidRunId> {
        let invalid = || InvalidRunId(super::extract::shown(s));
        let hex = s.strip_prefix(Self::PREFIX).ok_or_else(invalid)?;
        let well_formed = hex.len() == 32
            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(invalid());
        }
        u128::from_str_radix(hex, 16).map(RunId).map_err(|_| invalid())
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RunState {
    /// Working.
    Running,
    /// Asked to stop; stopping at its next safe point.
    Cancelling,
    /// Done: the pass did its work on the table (which may have been nothing).
    Succeeded,
    /// Done: the pass, or part of it, failed; the report says what.
    Failed,
    /// Done: the table's lease was held by another instance, so nothing was done.
    Skipped,
    /// Stopped by a cancel before it finished; nothing was committed after the cancel.
    Cancelled,
}

impl RunState {
    /// The state's name, as its JSON form.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Cancelling => "cancelling",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the run has ended.
    pub(crate) fn finished(self) -> bool {
        !matches!(self, Self::Running | Self::Cancelling)
    }

    /// The end state of a run whose pass reported `report`, cancelled or not.
    fn of(report: &JobReport, cancelled: bool) -> Self {
        if cancelled {
            return Self::Cancelled;
        }
        match report.tables.first() {
            _ if !report.errors.is_empty() => Self::Failed,
            None => Self::Failed,
            Some(t) if t.skipped.is_some() => Self::Skipped,
            Some(t) if t.error.is_some() => Self::Failed,
            Some(_) => Self::Succeeded,
        }
    }
}

/// One run started through the API.
#[derive(Debug)]
pub(crate) struct TriggeredRun {
    /// Its id.
    pub id: RunId,
    /// The table it works on.
    pub table: TableId,
    /// The job it runs.
    pub job: JobKind,
    /// Whether it only reports.
    pub dry_run: bool,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    cancel: CancellationToken,
    progress: Mutex<Progress>,
}

/// What a run has done so far.
#[derive(Debug, Clone)]
struct Progress {
    state: RunState,
    finished_at: Option<DateTime<Utc>>,
    report: Option<JobReport>,
}

/// A run as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RunView {
    /// The run's id.
    pub id: String,
    /// Tenant id.
    pub tenant: String,
    /// Dataset id.
    pub dataset: String,
    /// The table's name.
    pub table: String,
    /// The job.
    pub job: JobKind,
    /// Whether the run only reports (asked for, or the job's configured `dry_run`).
    pub dry_run: bool,
    /// Where it is.
    pub state: RunState,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The one-line summary of what it did, once it ended.
    pub summary: Option<String>,
    /// Its failure, when it failed.
    pub error: Option<String>,
    /// The table's report, as `compact --json` gives it, once it ended.
    #[schema(value_type = Option<Object>)]
    pub report: Option<TableReport>,
    /// Failures of the pass not tied to the table (the catalog could not be listed).
    pub pass_errors: Vec<String>,
}

impl TriggeredRun {
    /// Where it is now.
    pub(crate) fn state(&self) -> RunState {
        self.progress().state
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run as the API shows it.
    pub(crate) fn view(&self) -> RunView {
        let progress = self.progress().clone();
        let table_report = progress.report.as_ref().and_then(|r| r.tables.first().cloned());
        let pass_errors = progress.report.as_ref().map(|r| r.errors.clone()).unwrap_or_default();
        let error = table_report
            .as_ref()
            .and_then(|t| t.error.clone())
            .or_else(|| pass_errors.first().cloned());
        RunView {
            id: self.id.to_string(),
            tenant: self.table.tenant.clone(),
            dataset: self.table.dataset.clone(),
            table: self.table.table.as_str().to_string(),
            job: self.job,
            dry_run: self.dry_run,
            state: progress.state,
            requested_at: self.requested_at,
            finished_at: progress.finished_at,
            summary: table_report.as_ref().map(|t| t.summary.clone()),
            error,
            report: table_report,
            pass_errors,
        }
    }
}

/// Why a run could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StartRefused {
    /// A run of the same job on the same table is in flight.
    InFlight(RunId),
    /// As many runs as allowed are in flight.
    TooMany(usize),
    /// The process is shutting down.
    ShuttingDown,
}

/// Why a run could not be cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CancelRefused {
    /// No run has that id (or it was forgotten).
    NotFound,
    /// It has already ended, in this state.
    Finished(RunState),
}

/// Every run started through the API by this process.
#[derive(Debug)]
pub(crate) struct TriggeredRuns {
    registry: Mutex<Registry>,
    max_in_flight: usize,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    clock: Arc<dyn Clock>,
}

/// The runs by id, in the order they were requested, and the one in flight per table and job.
#[derive(Debug, Default)]
struct Registry {
    runs: HashMap<RunId, Arc<TriggeredRun>>,
    order: VecDeque<RunId>,
    active: HashMap<(TableId, JobKind), RunId>,
}

impl TriggeredRuns {
    /// No run yet; at most `max_in_flight` at once, each cancelled when `shutdown` is.
    pub(crate) fn new(
        max_in_flight: usize,
        shutdown: CancellationToken,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            registry: Mutex::default(),
            max_in_flight: max_in_flight.max(1),
            tasks: TaskTracker::new(),
            shutdown,
            clock,
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts one pass of `job` over `table` in the background, a dry run when `dry_run`.
    pub(crate) fn start(
        self: &Arc<Self>,
        table: TableId,
        dry_run: bool,
        job: Arc<dyn Job>,
    ) -> Result<Arc<TriggeredRun>, StartRefused> {
        if self.shutdown.is_cancelled() {
            return Err(StartRefused::ShuttingDown);
        }
        let kind = job.kind();
        let run = {
            let mut registry = self.registry();
            if let Some(id) = registry.active.get(&(table.clone(), kind)) {
                return Err(StartRefused::InFlight(*id));
            }
            if registry.active.len() >= self.max_in_flight {
                return Err(StartRefused::TooMany(self.max_in_flight));
            }
            let run = Arc::new(TriggeredRun {
                id: RunId::random(),
                table: table.clone(),
                job: kind,
                dry_run,
                requested_at: self.clock.now(),
                cancel: self.shutdown.child_token(),
                progress: Mutex::new(Progress {
                    state: RunState::Running,
                    finished_at: None,
                    report: None,
                }),
            });
            registry.active.insert((table, kind), run.id);
            registry.runs.insert(run.id, Arc::clone(&run));
            registry.order.push_back(run.id);
            registry.forget_old();
            run
        };
        info!(
            target: log_target::SERVICE,
            run = %run.id, job = %kind, dry_run, tenant = %run.table.tenant,
            dataset = %run.table.dataset, table = %run.table.table,
            "Starting a {kind} run requested through the admin API"
        );
        let (this, started) = (Arc::clone(self), Arc::clone(&run));
        self.tasks.spawn(async move {
            let scope = Scope {
                dry_run: started.dry_run,
                tables: Some(BTreeSet::from([started.table.clone()])),
                ..Scope::default()
            };
            let report = job.run(&scope, &started.cancel).await;
            this.finish(&started, report);
        });
        Ok(run)
    }

    /// Records the end of `run` with its pass's `report`.
    fn finish(&self, run: &TriggeredRun, report: JobReport) {
        let state = RunState::of(&report, run.cancel.is_cancelled());
        {
            let mut progress = run.progress();
            *progress =
                Progress { state, finished_at: Some(self.clock.now()), report: Some(report) };
        }
        self.registry().active.remove(&(run.table.clone(), run.job));
        info!(
            target: log_target::SERVICE,
            run = %run.id, job = %run.job, state = ?state, tenant = %run.table.tenant,
            dataset = %run.table.dataset, table = %run.table.table,
            "Run requested through the admin API ended"
        );
    }

    /// The run `id`, when known.
    pub(crate) fn get(&self, id: RunId) -> Option<Arc<TriggeredRun>> {
        self.registry().runs.get(&id).cloned()
    }

    /// Asks run `id` to stop at its next safe point.
    pub(crate) fn cancel(&self, id: RunId) -> Result<Arc<TriggeredRun>, CancelRefused> {
        let run = self.get(id).ok_or(CancelRefused::NotFound)?;
        {
            let mut progress = run.progress();
            match progress.state {
                RunState::Running => progress.state = RunState::Cancelling,
                RunState::Cancelling => {}
                done => return Err(CancelRefused::Finished(done)),
            }
        }
        run.cancel.cancel();
        info!(target: log_target::SERVICE, run = %id, "Cancelling a run requested through the admin API");
        Ok(run)
    }

    /// Every known run, newest first.
    pub(crate) fn list(&self) -> Vec<Arc<TriggeredRun>> {
        let registry = self.registry();
        registry.order.iter().rev().filter_map(|id| registry.runs.get(id).cloned()).collect()
    }

    /// Cancels every run in flight and waits for them to stop.
    pub(crate) async fn stop(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Registry {
    /// Forgets the oldest finished runs past [`KEPT_FINISHED`].
    fn forget_old(&mut self) {
        let finished = self.order.len().saturating_sub(self.active.len());
        let mut excess = finished.saturating_sub(KEPT_FINISHED);
        let mut kept = VecDeque::with_capacity(self.order.len());
        while let Some(id) = self.order.pop_front() {
            let active = self.active.values().any(|a| *a == id);
            if excess > 0 && !active {
                self.runs.remove(&id);
                excess -= 1;
            } else {
                kept.push_back(id);
            }
        }
        self.order = kept;
    }
}

#[cfg(test)]
mod tests;
