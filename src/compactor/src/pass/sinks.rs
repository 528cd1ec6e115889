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

use super::table_run::TableRun;
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
/// instance's to work on and record).
pub(crate) struct History {
    /// How long rows are kept.
    pub keep: chrono::Duration,
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
