//! What happens after each table: sinks that record a [`TableRun`] as soon as its table is
//! done, so a pass stopped half-way has recorded every table it finished.
//!
//! The assembly chooses the sinks; the pass calls them in order (the warning signs read the
//! run history the history sink has just written).

use std::sync::Arc;

use async_trait::async_trait;
use common::clock::Clock;
use common::config::CompactorConfig;
use tracing::{error, warn};

use super::source::due;
use super::table_run::TableRun;
use crate::changes::Changes;
use crate::log_target;
use crate::metrics::Metrics;
use crate::state::{RunOutcome, RunRecord, StateStore};
use crate::warnings;

/// Records one table's run.
#[async_trait]
pub trait AfterTable: Send + Sync {
    /// Records `run`, with the pass's state store when it could be opened. Never fails the
    /// pass: a sink that cannot record logs why.
    async fn record(&self, store: Option<&StateStore>, run: &TableRun);
}

/// The table's storage gauges from the state the run left, its failures counted by kind,
/// and each failure logged.
pub(crate) struct Gauges {
    /// The registry.
    pub metrics: Arc<Metrics>,
}

#[async_trait]
impl AfterTable for Gauges {
    async fn record(&self, _: Option<&StateStore>, run: &TableRun) {
        let id = &run.id;
        if let Some(state) = &run.state {
            self.metrics.tables.set_state(id, state);
        }
        if let Some(failure) = &run.failure {
            let job = run.job;
            self.metrics.tables.record_failure(id, job, failure.kind);
            error!(
                target: log_target::SERVICE,
                job = %job, tenant = %id.tenant, dataset = %id.dataset, table = %id.table,
                kind = %failure.kind, error = %failure,
                "{job} failed for table {id}"
            );
        }
    }
}

/// One run-history row per table the run worked on (a skipped table was another
/// instance's to work on and record), thinned when `quiet_every` is set: a run that failed
/// or changed something is always recorded, one that changed nothing only when the newest row
/// of its job on the table ended otherwise or is at least that old.
pub(crate) struct History {
    /// How long rows are kept.
    pub keep: chrono::Duration,
    /// At most one row per table and job this often for runs that changed nothing; `None`
    /// records every run.
    pub quiet_every: Option<std::time::Duration>,
}

impl History {
    /// Whether `run`, ending in `outcome` and changing nothing, is left out of the history
    /// because the newest row of its job on the table ended the same way less than
    /// `quiet_every` before it. When the history cannot be read, the run is recorded.
    async fn thinned(&self, store: &StateStore, run: &TableRun, outcome: RunOutcome) -> bool {
        let Some(every) = self.quiet_every else { return false };
        if outcome == RunOutcome::Failure || run.changes() != Changes::default() {
            return false;
        }
        let Ok(newest) = store.runs().runs(&run.id, run.job, 1).await else { return false };
        newest.first().is_some_and(|last| {
            last.outcome == outcome
                && (run.started_at - last.started_at).to_std().is_ok_and(|age| !due(age, every))
        })
    }
}

#[async_trait]
impl AfterTable for History {
    async fn record(&self, store: Option<&StateStore>, run: &TableRun) {
        // The pass has logged that the store could not be opened.
        let Some(store) = store.filter(|_| !run.skipped()) else { return };
        let outcome = match (&run.failure, run.dry_run) {
            (Some(_), _) => RunOutcome::Failure,
            (None, true) => RunOutcome::DryRun,
            (None, false) => RunOutcome::Success,
        };
        if self.thinned(store, run, outcome).await {
            return;
        }
        let record = RunRecord {
            job: run.job,
            started_at: run.started_at,
            finished_at: run.finished_at,
            outcome,
            changes: run.changes(),
            error: run.failure.as_ref().map(|f| f.message.clone()),
            error_kind: run.failure.as_ref().map(|f| f.kind),
            instance: run.instance.clone(),
            requests: run.report.requests,
        };
        if let Err(e) = store.runs().record(&run.id, &record, self.keep).await {
            let id = &run.id;
            warn!(
                target: log_target::SERVICE,
                tenant = %id.tenant, dataset = %id.dataset, table = %id.table, error = %e,
                "Run history not recorded"
            );
        }
    }
}

/// The table's warning signs, checked against the configuration and its run history, set
/// as gauges and logged when firing.
pub(crate) struct Warnings {
    /// What the checks compare against.
    pub config: Arc<CompactorConfig>,
    /// The registry.
    pub metrics: Arc<Metrics>,
    /// The time the checks are made at.
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl AfterTable for Warnings {
    async fn record(&self, store: Option<&StateStore>, run: &TableRun) {
        let (id, Some(state), Some(store)) = (&run.id, &run.state, store) else { return };
        match store.runs().recent(id).await {
            Ok(runs) => {
                let now = self.clock.now();
                let firing = warnings::table_warnings(&self.config, id, state, &runs, now);
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
}
