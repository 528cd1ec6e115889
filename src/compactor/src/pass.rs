//! A pass over tables, the shape every job has: find the tables in scope, load each one,
//! refresh its storage gauges, run the job's step on it, and keep one table's failure from
//! stopping the others.
//!
//! [`Job`] is what schedulers and one-shot commands run; a job supplies only its
//! [`TableStep`], and [`TablePass`] turns it into a [`Job`]. Passes of one [`TablePass`] never
//! overlap: a second pass waits for the first (the daemon shares one orphan-cleanup pass
//! between its scheduler and the retention cycle).

use std::sync::Arc;

use async_trait::async_trait;
use common::catalog::{CatalogHandle, SignalCatalog, list_signal_tables};
use common::tables::TableId;
use futures::StreamExt;
use iceberg::Catalog;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::error;

use crate::job::{JobKind, Scope};
use crate::log_target;
use crate::metrics::Metrics;
use crate::report::{JobReport, TableOutcome, TableReport};
use crate::step::{StepError, StepOutcome, TableContext, TableStep};

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
    concurrency: usize,
    running: Mutex<()>,
}

/// One table's report and, when the step produced one, its typed outcome.
type Worked<O> = (TableReport, Option<O>);

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
        concurrency: usize,
    ) -> Self {
        let concurrency = concurrency.max(1);
        Self { step, catalog, metrics, concurrency, running: Mutex::new(()) }
    }

    async fn run_on(
        &self,
        catalog: &SignalCatalog,
        id: &TableId,
        scope: &Scope,
        cancel: &CancellationToken,
    ) -> Worked<S::Outcome> {
        let kind = self.step.kind();
        self.metrics.touch_table(id);
        let result = match catalog.catalog().load_table(&id.ident()).await {
            Err(source) => Err(StepError::iceberg("load table metadata")(source)),
            Ok(table) => {
                let cx = TableContext::new(id, &table, catalog, scope, cancel);
                let stats = cx.stats;
                self.metrics.tables.set_stats(
                    id,
                    stats.data_files,
                    stats.data_bytes,
                    stats.snapshots,
                );
                self.step.run_table(cx).await
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
                table = %id.signal,
                error = %error,
                "{kind} failed for table {id}"
            );
        }
        match result {
            Ok(StepOutcome { summary, details, error }) => {
                (TableReport::of(id, summary, error), Some(details))
            }
            Err(e) => (TableReport::failed(id, e.to_string()), None),
        }
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
        let catalog = catalog.as_ref();
        let mut worked: Vec<(TableId, Worked<S::Outcome>)> = futures::stream::iter(ids)
            .take_while(|_| std::future::ready(!cancel.is_cancelled()))
            .map(|id| async move {
                let worked = self.run_on(catalog, &id, scope, cancel).await;
                (id, worked)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        worked.sort_by(|a, b| a.0.cmp(&b.0));
        let outcomes: Vec<(&TableId, &S::Outcome)> =
            worked.iter().filter_map(|(id, (_, o))| o.as_ref().map(|o| (id, o))).collect();
        self.step.finish_pass(&outcomes);
        report.tables = worked
            .into_iter()
            .map(|(_, (table, outcome))| TableReport { details: outcome.map(Into::into), ..table })
            .collect();
        report.finish(started.elapsed())
    }
}

#[cfg(test)]
mod tests;
