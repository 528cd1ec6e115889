//! A pass over tables, the shape every job has: find the tables in scope, load each one, run
//! the job's step on it, refresh its storage gauges from what is committed afterwards, and keep
//! one table's failure from stopping the others.
//!
//! [`Job`] is what schedulers and one-shot commands run; a job supplies only its
//! [`TableStep`], and [`TablePass`] turns it into a [`Job`]. Passes of one [`TablePass`] never
//! overlap: a second pass waits for the first (the daemon shares one orphan-cleanup pass
//! between its scheduler and the retention cycle).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::catalog::{CatalogHandle, SignalCatalog, list_signal_tables};
use common::config::CompactorConfig;
use common::tables::TableId;
use futures::StreamExt;
use iceberg::table::Table;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

use crate::job::{JobKind, Scope};
use crate::log_target;
use crate::metrics::Metrics;
use crate::report::{JobReport, Skipped, TableOutcome, TableReport};
use crate::state::{self, Fence, RunOutcome, RunRecord, Runs, StateStore};
use crate::step::{StepError, StepOutcome, TableContext, TableStep};
use crate::table_state::TableState;
use crate::warnings;

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

/// A [`Job`] that runs a [`TableStep`] on every table in scope, at most `concurrency` tables
/// at a time.
pub struct TablePass<S> {
    step: S,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    settings: PassSettings,
    running: Mutex<()>,
    /// Each table's state as this instance last read it: the next pass's order.
    known: std::sync::Mutex<HashMap<TableId, TableState>>,
}

/// How a pass goes over its tables, from `[compactor]`.
#[derive(Debug, Clone)]
pub struct PassSettings {
    /// Tables worked on at the same time (at least 1).
    pub concurrency: usize,
    /// Data files below this size count as small in the table gauges.
    pub small_file_bytes: u64,
    /// How long the run history keeps a pass.
    pub history_keep: chrono::Duration,
    /// The configuration the warning signs are checked against; `None` checks none.
    pub checks: Option<Arc<CompactorConfig>>,
    /// How tables are leased; `None` works on every table in scope without a lease.
    pub leases: Option<LeaseSettings>,
}

impl From<&CompactorConfig> for PassSettings {
    fn from(c: &CompactorConfig) -> Self {
        Self {
            concurrency: c.max_concurrent_jobs,
            small_file_bytes: c.small_file_threshold_bytes,
            history_keep: state::kept(c),
            checks: Some(Arc::new(c.clone())),
            leases: None,
        }
    }
}

impl PassSettings {
    /// `concurrency` tables at a time, data files below `small_file_bytes` counted as small,
    /// run history kept 30 days, no warning sign checked.
    pub fn new(concurrency: usize, small_file_bytes: u64) -> Self {
        let history_keep = chrono::Duration::days(30);
        Self { concurrency, small_file_bytes, history_keep, checks: None, leases: None }
    }

    /// These settings with every table leased as `leases` says.
    pub fn with_leases(self, leases: LeaseSettings) -> Self {
        Self { leases: Some(leases), ..self }
    }
}

/// One table's report and, when the step produced one, its typed outcome.
type Worked<O> = (TableReport, Option<O>);

/// A [`Worked`] with when the table's work started and ended, and the table's state after it.
type Timed<O> = (TableReport, Option<O>, (DateTime<Utc>, DateTime<Utc>), Option<TableState>);

/// A [`Worked`], the table's state after it, and when the work started and ended (inside the
/// table's lease, when it took one).
type Ran<O> = (Worked<O>, Option<TableState>, (DateTime<Utc>, DateTime<Utc>));

impl<S> TablePass<S>
where
    S: TableStep,
    S::Outcome: Into<TableOutcome>,
{
    /// Wraps `step` into a job over the tables of `catalog`.
    pub fn new(
        step: S,
        catalog: Arc<CatalogHandle>,
        metrics: Arc<Metrics>,
        settings: PassSettings,
    ) -> Self {
        let settings = PassSettings { concurrency: settings.concurrency.max(1), ..settings };
        let known = std::sync::Mutex::new(HashMap::new());
        Self { step, catalog, metrics, settings, running: Mutex::new(()), known }
    }

    /// Sets the gauges of `id` from the table as committed now: reloaded when the step may
    /// have changed it (`reload`), else `loaded`. A table that cannot be read keeps its gauges.
    async fn refresh_gauges(
        &self,
        catalog: &SignalCatalog,
        id: &TableId,
        loaded: &Table,
        reload: bool,
    ) -> Option<TableState> {
        let reloaded;
        let table = if reload {
            match catalog.load_table(&id.ident()).await {
                Ok(table) => {
                    reloaded = table;
                    &reloaded
                }
                Err(e) => {
                    self.gauges_not_refreshed(id, &e);
                    return None;
                }
            }
        } else {
            loaded
        };
        match TableState::read(table, self.settings.small_file_bytes).await {
            Ok(state) => {
                self.metrics.tables.set_state(id, &state);
                Some(state)
            }
            Err(e) => {
                self.gauges_not_refreshed(id, &e);
                None
            }
        }
    }

    /// Sets the warning gauges of `id`, in `state` after the pass, from the checks against the
    /// configuration and the table's run history.
    async fn check_warnings(&self, history: &Runs, id: &TableId, state: &TableState) {
        let Some(config) = &self.settings.checks else { return };
        match history.recent(id).await {
            Ok(runs) => {
                let firing = warnings::table_warnings(config, id, state, &runs, Utc::now());
                for w in &firing {
                    warn!(
                        target: log_target::SERVICE,
                        tenant = %id.tenant, dataset = %id.dataset, table = %id.table,
                        check = w.check, "Warning sign: {}", w.message
                    );
                }
                self.metrics.tables.set_warnings(id, &firing);
            }
            Err(e) => warn!(
                target: log_target::SERVICE,
                tenant = %id.tenant, dataset = %id.dataset, table = %id.table, error = %e,
                "Warning signs not checked"
            ),
        }
    }

    /// Records in `history` the pass over `id` that `table` reports, which ran `when`
    /// (start, end).
    async fn record_run(
        &self,
        history: &Runs,
        id: &TableId,
        table: &TableReport,
        (started_at, finished_at): (DateTime<Utc>, DateTime<Utc>),
        dry_run: bool,
    ) {
        let outcome = match (&table.error, dry_run) {
            (Some(_), _) => RunOutcome::Failure,
            (None, true) => RunOutcome::DryRun,
            (None, false) => RunOutcome::Success,
        };
        let run = RunRecord {
            job: self.step.kind(),
            started_at,
            finished_at,
            outcome,
            changes: table.details.as_ref().map(TableOutcome::changes).unwrap_or_default(),
            error: table.error.clone(),
            error_kind: None,
            instance: self.instance().to_string(),
        };
        if let Err(e) = history.record(id, &run, self.settings.history_keep).await {
            warn!(
                target: log_target::SERVICE,
                tenant = %id.tenant, dataset = %id.dataset, table = %id.table, error = %e,
                "Run history not recorded"
            );
        }
    }

    fn gauges_not_refreshed(&self, id: &TableId, error: &iceberg::Error) {
        warn!(
            target: log_target::SERVICE,
            tenant = %id.tenant, dataset = %id.dataset, table = %id.table, error = %error,
            "Table gauges not refreshed"
        );
    }

    /// This instance's id, when the pass leases its tables.
    fn instance(&self) -> &str {
        self.settings.leases.as_ref().map_or("", |l| l.instance.as_str())
    }

    /// `ids` in the order a pass takes them: tables this instance has not read yet first, then
    /// the most urgent as the step sees the state the last pass left; ties are spread by
    /// instance, so instances starting together begin on different tables.
    fn ordered(&self, mut ids: Vec<TableId>) -> Vec<TableId> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let instance = self.instance();
        ids.sort_by_cached_key(|id| {
            let urgency = known.get(id).map(|state| self.step.urgency(state));
            let mut spread = std::hash::DefaultHasher::new();
            (instance, id).hash(&mut spread);
            (urgency.is_some(), std::cmp::Reverse(urgency), spread.finish())
        });
        ids
    }

    /// Runs the step on `id` under its lease when `leasing` is set; a table whose lease is
    /// held elsewhere is skipped (its gauges still refreshed).
    async fn run_leased(
        &self,
        catalog: &SignalCatalog,
        leasing: Option<&Leasing<'_>>,
        id: &TableId,
        scope: &Scope,
        cancel: &CancellationToken,
    ) -> Ran<S::Outcome> {
        // A dry run changes nothing, so it needs no lease and keeps no other instance waiting.
        let Some(leasing) = leasing.filter(|_| !scope.dry_run) else {
            return self.run_on(catalog, id, scope, cancel, None).await;
        };
        // This instance's other jobs are waited for; other instances never are.
        let _turn = leasing.settings.locks.lock(id).await;
        let work = cancel.child_token();
        match leasing.take(id, &work).await {
            Taken::Held(lease) => {
                let fence = lease.lease().fence();
                let ((mut table, outcome), state, when) =
                    self.run_on(catalog, id, scope, &work, Some(fence)).await;
                if lease.finish(leasing).await {
                    let lost = format!(
                        "the {} lease of {id} was lost while working on it (it expired or \
                         was taken over by another instance); the rest is left to its new holder",
                        self.step.kind()
                    );
                    warn!(target: log_target::SERVICE, tenant = %id.tenant, dataset = %id.dataset, table = %id.table, "{lost}");
                    table.error.get_or_insert(lost);
                }
                ((table, outcome), state, when)
            }
            Taken::Busy(holder) => {
                let skipped = Skipped {
                    held_by: holder.as_ref().map(|h| h.owner.clone()),
                    job: holder.as_ref().map(|h| h.job.to_string()),
                    until: holder.as_ref().map(|h| h.expires_at),
                };
                info!(
                    target: log_target::SERVICE,
                    tenant = %id.tenant, dataset = %id.dataset, table = %id.table,
                    held_by = skipped.held_by.as_deref().unwrap_or("?"),
                    "Skipped {id}: its lease is held by another instance or job"
                );
                let state = match catalog.load_table(&id.ident()).await {
                    Ok(table) => self.refresh_gauges(catalog, id, &table, false).await,
                    Err(_) => None,
                };
                let now = Utc::now();
                ((TableReport::skipped(id, skipped), None), state, (now, now))
            }
            Taken::Failed(e) => {
                let now = Utc::now();
                ((TableReport::failed(id, e), None), None, (now, now))
            }
        }
    }

    async fn run_on(
        &self,
        catalog: &SignalCatalog,
        id: &TableId,
        scope: &Scope,
        cancel: &CancellationToken,
        fence: Option<Fence>,
    ) -> Ran<S::Outcome> {
        let started_at = Utc::now();
        let kind = self.step.kind();
        self.metrics.touch_table(id);
        let mut state = None;
        let result = match catalog.load_table(&id.ident()).await {
            Err(source) => Err(StepError::iceberg("load table metadata")(source)),
            Ok(table) => {
                let cx = TableContext::new(id, &table, catalog, scope, cancel).fenced(fence);
                let result = self.step.run_table(cx).await;
                state = self.refresh_gauges(catalog, id, &table, !scope.dry_run).await;
                result
            }
        };
        let error = match &result {
            Ok(outcome) => outcome.error.clone(),
            Err(e) => Some(e.to_string()),
        };
        if let Some(error) = &error {
            self.metrics.tables.record_failure(id, kind);
            error!(
                target: log_target::SERVICE,
                job = %kind,
                tenant = %id.tenant,
                dataset = %id.dataset,
                table = %id.table,
                error = %error,
                "{kind} failed for table {id}"
            );
        }
        let worked = match result {
            Ok(StepOutcome { summary, details, error }) => {
                (TableReport::of(id, summary, error), Some(details))
            }
            Err(e) => (TableReport::failed(id, e.to_string()), None),
        };
        (worked, state, (started_at, Utc::now()))
    }
}

#[async_trait]
impl<S> Job for TablePass<S>
where
    S: TableStep,
    S::Outcome: Into<TableOutcome> + Sync,
{
    fn kind(&self) -> JobKind {
        self.step.kind()
    }

    async fn run(&self, scope: &Scope, cancel: &CancellationToken) -> JobReport {
        // Every log line of the pass carries the instance id (and the job), as span fields.
        let span = info_span!("pass", instance = self.instance(), job = %self.kind());
        self.run_pass(scope, cancel).instrument(span).await
    }
}

impl<S> TablePass<S>
where
    S: TableStep,
    S::Outcome: Into<TableOutcome> + Sync,
{
    /// [`Job::run`], inside the pass's span.
    async fn run_pass(&self, scope: &Scope, cancel: &CancellationToken) -> JobReport {
        let _one_pass_at_a_time = self.running.lock().await;
        let started = Instant::now();
        let mut report = JobReport::new(self.kind(), scope.dry_run, chrono::Utc::now());
        let catalog = match self.catalog.get().await {
            Ok(catalog) => catalog,
            Err(e) => {
                report.errors.push(e.to_string());
                return report.finish(started.elapsed());
            }
        };
        let ids =
            match list_signal_tables(&catalog, scope.tenant.as_deref(), scope.dataset.as_deref())
                .await
            {
                Ok(ids) => ids.into_iter().filter(|id| scope.contains(id)).collect::<Vec<_>>(),
                Err(e) => {
                    report.errors.push(e.to_string());
                    return report.finish(started.elapsed());
                }
            };
        if let Err(e) = self.step.begin_pass(&catalog, scope).await {
            report.errors.push(e);
            return report.finish(started.elapsed());
        }
        let store = StateStore::open(&catalog).await;
        let history = match &store {
            Ok(store) => Some(store.runs()),
            Err(e) => {
                catalog.observe(e);
                warn!(target: log_target::SERVICE, job = %self.kind(), error = %e, "Run history not recorded");
                None
            }
        };
        let leasing = match &self.settings.leases {
            None => None,
            Some(settings) => match &store {
                Ok(store) => Some(Leasing {
                    leases: store.leases(),
                    catalog: catalog.as_ref(),
                    settings,
                    metrics: &self.metrics.leases,
                    job: self.kind(),
                }),
                Err(e) => {
                    report.errors.push(e.to_string());
                    return report.finish(started.elapsed());
                }
            },
        };
        let catalog = catalog.as_ref();
        let leasing = leasing.as_ref();
        let mut worked: Vec<(TableId, Timed<S::Outcome>)> =
            futures::stream::iter(self.ordered(ids))
                .take_while(|_| std::future::ready(!cancel.is_cancelled()))
                .map(|id| async move {
                    let ((table, outcome), state, when) =
                        self.run_leased(catalog, leasing, &id, scope, cancel).await;
                    (id, (table, outcome, when, state))
                })
                .buffer_unordered(self.settings.concurrency)
                .collect()
                .await;
        worked.sort_by(|a, b| a.0.cmp(&b.0));
        {
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            for (id, (_, _, _, state)) in &worked {
                if let Some(state) = state {
                    known.insert(id.clone(), state.clone());
                }
            }
        }
        let outcomes: Vec<(&TableId, &S::Outcome)> =
            worked.iter().filter_map(|(id, (_, o, _, _))| o.as_ref().map(|o| (id, o))).collect();
        self.step.finish_pass(&outcomes);
        for (id, (table, outcome, when, state)) in worked {
            let table = TableReport { details: outcome.map(Into::into), ..table };
            if let Some(history) = &history {
                // A skipped table was another instance's to work on and record.
                if table.skipped.is_none() {
                    self.record_run(history, &id, &table, when, scope.dry_run).await;
                }
                if let Some(state) = &state {
                    self.check_warnings(history, &id, state).await;
                }
            }
            report.tables.push(table);
        }
        report.finish(started.elapsed())
    }
}

mod leasing;

pub use leasing::{LeaseSettings, TableLocks};
use leasing::{Leasing, Taken};

#[cfg(test)]
mod tests;
