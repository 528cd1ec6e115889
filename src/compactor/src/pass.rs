//! A pass over tables, the shape every job has: find the tables in scope, lease and load each
//! one, run the job's step on it, read what is committed afterwards, and record each table's
//! run as soon as it is done; one table's failure never stops the others.
//!
//! [`Job`] is what schedulers and one-shot commands run; a job supplies only its
//! [`TableStep`], and [`TablePass`] turns it into a [`Job`] from a few [`Components`] the
//! assembly chooses: a [`TableSource`] (list, filter, order), the leases
//! ([`LeaseSettings`]), and [`AfterTable`] sinks (gauges, run history, warning signs), each
//! given the [`TableRun`] of a table the moment it finishes. Passes of one [`TablePass`] never
//! overlap: a second pass waits for the first (the daemon shares one orphan-cleanup pass
//! between its scheduler and the retention cycle).

use std::sync::Arc;

use async_trait::async_trait;
use common::catalog::{CatalogHandle, SignalCatalog};
use common::clock::Clock;
use common::storage::counted::RequestTally;
use common::tables::TableId;
use futures::StreamExt;
use iceberg::table::Table;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::failure::{Failure, FailureKind};
use crate::job::{JobKind, Scope};
use crate::live_files::ManifestCache;
use crate::log_target;
use crate::metrics::Metrics;
use crate::report::{JobOutcome, JobReport, Skipped, TableReport};
use crate::state::{Fence, StateStore};
use crate::step::{StepError, StepOutcome, TableContext, TableStep};
use crate::table_state::TableState;

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

/// The parts a [`TablePass`] is made of, chosen by the assembly: where its tables come
/// from, how they are leased, and what records each table's run.
pub struct Components {
    /// Lists, filters and orders the tables.
    pub source: TableSource,
    /// How tables are leased; `None` works on every table in scope without a lease.
    pub leases: Option<LeaseSettings>,
    /// What records each table's run as soon as it is done, in this order.
    pub sinks: Vec<Arc<dyn AfterTable>>,
    /// Tables worked on at the same time (at least 1).
    pub concurrency: usize,
    /// Data files below this size count as small in the table's state.
    pub small_file_bytes: u64,
    /// The time runs are stamped with.
    pub clock: Arc<dyn Clock>,
}

/// A [`Job`] that runs a [`TableStep`] on every table in scope, at most `concurrency` tables
/// at a time.
pub struct TablePass<S> {
    step: S,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    parts: Components,
    running: Mutex<()>,
}

impl<S> TablePass<S>
where
    S: TableStep,
    S::Outcome: JobOutcome,
{
    /// Wraps `step` into a job over the tables of `catalog`, made of `parts`.
    pub fn new(
        step: S,
        catalog: Arc<CatalogHandle>,
        metrics: Arc<Metrics>,
        parts: Components,
    ) -> Self {
        let parts = Components { concurrency: parts.concurrency.max(1), ..parts };
        Self { step, catalog, metrics, parts, running: Mutex::new(()) }
    }

    /// This instance's id, when the pass leases its tables.
    fn instance(&self) -> &str {
        self.parts.leases.as_ref().map_or("", |l| l.instance.as_str())
    }

    /// The table as committed now: reloaded when the step may have changed it (`reload`),
    /// else `loaded`; read through `files`, the run's cache of the table's files, so that what
    /// the step loaded or committed is not read again. `None` when it cannot be read (its
    /// gauges then stay as they were).
    async fn state_after(
        &self,
        catalog: &SignalCatalog,
        id: &TableId,
        loaded: &Table,
        reload: bool,
        files: &ManifestCache,
    ) -> Option<TableState> {
        let reloaded;
        let table = if reload {
            match files.current(catalog, &id.ident()).await {
                Ok(table) => {
                    reloaded = table;
                    &reloaded
                }
                Err(e) => return not_read(id, &e),
            }
        } else {
            loaded
        };
        match TableState::read(table, self.parts.small_file_bytes, files).await {
            Ok(state) => Some(state),
            Err(e) => not_read(id, &e),
        }
    }

    /// A run of this pass's job on `id` that has `report`, started at `started_at`.
    fn table_run(
        &self,
        id: &TableId,
        scope: &Scope,
        report: TableReport,
        failure: Option<Failure>,
        state: Option<TableState>,
        started_at: chrono::DateTime<chrono::Utc>,
    ) -> TableRun {
        let mut run = TableRun {
            id: id.clone(),
            job: self.step.kind(),
            dry_run: scope.dry_run,
            instance: self.instance().to_string(),
            report,
            failure: None,
            state,
            metadata_location: None,
            started_at,
            finished_at: self.parts.clock.now(),
        };
        if let Some(failure) = failure {
            run.fail(failure);
        }
        run
    }

    /// Runs the step on `id` under its lease when `leasing` is set; a table whose lease is
    /// held elsewhere is skipped (its state still read for its gauges).
    async fn run_leased(
        &self,
        catalog: &SignalCatalog,
        pass: &S::Pass,
        leasing: Option<&Leasing<'_>>,
        id: &TableId,
        scope: &Scope,
        cancel: &CancellationToken,
    ) -> (TableRun, Option<S::Outcome>) {
        // A dry run changes nothing, so it needs no lease and keeps no other instance waiting.
        let Some(leasing) = leasing.filter(|_| !scope.dry_run) else {
            return self.run_on(catalog, pass, id, scope, cancel, None).await;
        };
        // This instance's other jobs are waited for; other instances never are.
        let _turn = leasing.settings.locks.lock(id).await;
        let work = cancel.child_token();
        let started_at = self.parts.clock.now();
        match leasing.take(id, &work).await {
            Taken::Held(lease) => {
                let fence = lease.lease().fence();
                let (mut run, outcome) =
                    self.run_on(catalog, pass, id, scope, &work, Some(fence)).await;
                if lease.finish(leasing).await {
                    let lost = format!(
                        "the {} lease of {id} was lost while working on it (it expired or \
                         was taken over by another instance); the rest is left to its new holder",
                        self.step.kind()
                    );
                    warn!(target: log_target::SERVICE, tenant = %id.tenant, dataset = %id.dataset, table = %id.table, "{lost}");
                    if run.failure.is_none() {
                        run.fail(Failure::new(FailureKind::Fenced, lost));
                    }
                }
                (run, outcome)
            }
            Taken::Busy(holder) => {
                let skipped = Skipped {
                    held_by: holder.as_ref().map(|h| h.owner.clone()),
                    job: holder.as_ref().map(|h| h.job),
                    until: holder.as_ref().map(|h| h.expires_at),
                };
                info!(
                    target: log_target::SERVICE,
                    tenant = %id.tenant, dataset = %id.dataset, table = %id.table,
                    held_by = skipped.held_by.as_deref().unwrap_or("?"),
                    "Skipped {id}: its lease is held by another instance or job"
                );
                let state = match catalog.load_table(&id.ident()).await {
                    Ok(table) => {
                        let files = ManifestCache::new();
                        self.state_after(catalog, id, &table, false, &files).await
                    }
                    Err(_) => None,
                };
                let report = TableReport::skipped(id, skipped);
                (self.table_run(id, scope, report, None, state, started_at), None)
            }
            Taken::Failed(message) => {
                let report = TableReport::failed(id, message.clone());
                let failure = Failure::new(FailureKind::Catalog, message);
                (self.table_run(id, scope, report, Some(failure), None, started_at), None)
            }
        }
    }

    /// Loads `id` and runs the step on it, its commits fenced by `fence`.
    async fn run_on(
        &self,
        catalog: &SignalCatalog,
        pass: &S::Pass,
        id: &TableId,
        scope: &Scope,
        cancel: &CancellationToken,
        fence: Option<Fence>,
    ) -> (TableRun, Option<S::Outcome>) {
        let started_at = self.parts.clock.now();
        self.metrics.touch_table(id);
        let (mut state, mut metadata_location) = (None, None);
        let result = match catalog.load_table(&id.ident()).await {
            Err(source) => Err(StepError::iceberg("load table metadata")(source)),
            Ok(table) => {
                metadata_location = table.metadata_location().map(str::to_string);
                let cx = TableContext::new(id, &table, catalog, scope, cancel).fenced(fence);
                let files = Arc::clone(&cx.files);
                let result = self.step.run_table(pass, cx).await;
                state = self.state_after(catalog, id, &table, !scope.dry_run, &files).await;
                result
            }
        };
        let (report, failure, outcome) = match result {
            Ok(StepOutcome { summary, details, error }) => {
                let message = error.as_ref().map(|f| f.message.clone());
                (TableReport::of(id, summary, message), error, Some(details))
            }
            Err(e) => (TableReport::failed(id, e.to_string()), Some(Failure::of(&e)), None),
        };
        let mut run = self.table_run(id, scope, report, failure, state, started_at);
        run.metadata_location = metadata_location;
        (run, outcome)
    }

    /// Records `run` with every sink, in order, and remembers its state, and whether it found
    /// the table idle, for the next passes (of the pass `listing` and `started` describe).
    async fn after_table(
        &self,
        store: Option<&StateStore>,
        (listing, started): (&Listing, chrono::DateTime<chrono::Utc>),
        run: &TableRun,
    ) {
        if let Some(state) = &run.state {
            self.parts.source.remember(&run.id, state);
        }
        self.parts.source.settle(store, listing, run, started).await;
        for sink in &self.parts.sinks {
            sink.record(store, run).await;
        }
    }
}

/// Logs that `id`'s committed state could not be read after its run.
fn not_read(id: &TableId, error: &iceberg::Error) -> Option<TableState> {
    warn!(
        target: log_target::SERVICE,
        tenant = %id.tenant, dataset = %id.dataset, table = %id.table, error = %error,
        "Table gauges not refreshed"
    );
    None
}

#[async_trait]
impl<S> Job for TablePass<S>
where
    S: TableStep,
    S::Outcome: JobOutcome,
{
    fn kind(&self) -> JobKind {
        self.step.kind()
    }

    async fn run(&self, scope: &Scope, cancel: &CancellationToken) -> JobReport {
        // Every log line of the pass carries the instance id (and the job), as span fields.
        let span = info_span!("pass", instance = self.instance(), job = %self.kind());
        // The requests made outside every table's own tally: listing, the step's start, end.
        let outside = RequestTally::new();
        let report = outside.scope(self.run_pass(scope, cancel)).instrument(span).await;
        report.with_requests(outside.counts())
    }
}

impl<S> TablePass<S>
where
    S: TableStep,
    S::Outcome: JobOutcome,
{
    /// [`Job::run`], inside the pass's span.
    async fn run_pass(&self, scope: &Scope, cancel: &CancellationToken) -> JobReport {
        let _one_pass_at_a_time = self.running.lock().await;
        let started = Instant::now();
        let mut report = JobReport::new(self.kind(), scope.dry_run, self.parts.clock.now());
        let catalog = match self.catalog.get().await {
            Ok(catalog) => catalog,
            Err(e) => {
                report.errors.push(e.to_string());
                return report.finish(started.elapsed());
            }
        };
        // One store for the pass: its leases, idle marks, and the run history the sinks write.
        let store = match StateStore::open(&catalog).await {
            Ok(store) => Some(store),
            Err(e) => {
                catalog.observe(&e);
                if self.parts.leases.is_some() {
                    report.errors.push(e.to_string());
                    return report.finish(started.elapsed());
                }
                warn!(target: log_target::SERVICE, job = %self.kind(), error = %e, "Run history not recorded");
                None
            }
        };
        let (job, now) = (self.kind(), report.started_at);
        let urgency = |s: &TableState| self.step.urgency(s);
        let listing = match self
            .parts
            .source
            .tables(&catalog, store.as_ref(), scope, job, now, urgency)
            .await
        {
            Ok(listing) => listing,
            Err(e) => {
                report.errors.push(e.to_string());
                return report.finish(started.elapsed());
            }
        };
        report.unchanged = listing.unchanged;
        let pass = match self.step.begin_pass(&catalog, scope).await {
            Ok(pass) => pass,
            Err(e) => {
                report.errors.push(e.message);
                return report.finish(started.elapsed());
            }
        };
        let leasing = match (&self.parts.leases, &store) {
            (Some(settings), Some(store)) => Some(Leasing {
                leases: store.leases(),
                catalog: catalog.as_ref(),
                settings,
                metrics: &self.metrics.leases,
                job: self.kind(),
            }),
            _ => None,
        };
        let (catalog, leasing, pass) = (catalog.as_ref(), leasing.as_ref(), &pass);
        let store = store.as_ref();
        // Each table is recorded by the sinks as soon as it is done, not when the pass ends.
        let settled = (&listing, now);
        let mut runs: Vec<TableRun> = futures::stream::iter(listing.tables.iter().cloned())
            .take_while(|_| std::future::ready(!cancel.is_cancelled()))
            .map(|id| async move {
                // Every request of the table's run counts for it, on whatever task it is made.
                let tally = RequestTally::new();
                let leased = self.run_leased(catalog, pass, leasing, &id, scope, cancel);
                let (mut run, outcome) = tally.scope(leased).await;
                run.report.requests = tally.counts();
                run.report.details = outcome.map(Into::into);
                self.after_table(store, settled, &run).await;
                run
            })
            .buffer_unordered(self.parts.concurrency)
            .collect()
            .await;
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        let outcomes: Vec<(&TableId, &S::Outcome)> = runs
            .iter()
            .filter_map(|run| Some((&run.id, S::Outcome::of(run.report.details.as_ref()?)?)))
            .collect();
        self.step.finish_pass(&outcomes);
        report.tables = runs.into_iter().map(|run| run.report).collect();
        report.finish(started.elapsed())
    }
}

mod leasing;

mod sinks;
mod source;
mod table_run;

pub(crate) use leasing::{LeaseSettings, TableLocks};
use leasing::{Leasing, Taken};
pub(crate) use sinks::{AfterTable, Gauges, History, Warnings};
use source::Listing;
pub(crate) use source::{SkipUnchanged, TableSource};
pub(crate) use table_run::TableRun;

#[cfg(test)]
mod tests;
