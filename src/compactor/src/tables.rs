//! The per-table pass every job is made of: find the tables in scope, load each one, refresh
//! its storage gauges, run the job's step on it, and keep one table's failure from stopping
//! the others.
//!
//! A job supplies only its [`TableStep`]; [`TablePass`] turns it into a [`Job`].

use std::sync::Arc;

use async_trait::async_trait;
use common::catalog::{CatalogError, SignalCatalog, list_signal_tables};
use common::config::SchemaConfig;
use common::storage::Warehouse;
use common::tables::TableId;
use futures::StreamExt;
use iceberg::Catalog;
use iceberg::table::Table;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::error;

use crate::job::{Job, JobKind, JobReport, Scope, TableReport};
use crate::metrics::Metrics;

/// The Iceberg catalog, connected on first use and reconnected after a failure, so that a
/// catalog that is down at start-up only fails passes until it comes back.
#[derive(Debug)]
pub struct CatalogHandle {
    schema: SchemaConfig,
    warehouse: Warehouse,
    connected: Mutex<Option<Arc<SignalCatalog>>>,
}

impl CatalogHandle {
    /// A handle for the catalog in `schema`, storing tables in `warehouse`; nothing connects yet.
    pub fn new(schema: SchemaConfig, warehouse: Warehouse) -> Self {
        Self { schema, warehouse, connected: Mutex::new(None) }
    }

    /// The connected catalog, connecting now if needed.
    pub async fn get(&self) -> Result<Arc<SignalCatalog>, CatalogError> {
        let mut slot = self.connected.lock().await;
        if let Some(catalog) = slot.as_ref() {
            return Ok(Arc::clone(catalog));
        }
        let catalog = Arc::new(SignalCatalog::connect(&self.schema, &self.warehouse).await?);
        *slot = Some(Arc::clone(&catalog));
        Ok(catalog)
    }

    /// The warehouse the catalog's tables live in.
    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }
}

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
        Self { id, table, catalog, scope, cancel, stats: TableStats::of(table) }
    }
}

/// What a step did to one table.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// One-line human summary.
    pub summary: String,
    /// Machine-readable details for `--json`.
    pub details: serde_json::Value,
    /// Set when part of the work failed (the table counts as failed, with these details).
    pub error: Option<String>,
}

impl StepOutcome {
    /// Work that fully succeeded.
    pub fn ok(summary: String, details: serde_json::Value) -> Self {
        Self { summary, details, error: None }
    }
}

/// A step's failure on one table.
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
    /// Part of the work failed; the rest is described by the outcome.
    #[error("{error}")]
    Partial {
        /// What failed.
        error: String,
        /// What was done nevertheless.
        outcome: Box<StepOutcome>,
    },
}

/// The job-specific work on one table.
#[async_trait]
pub trait TableStep: Send + Sync + 'static {
    /// Which job this step belongs to.
    fn kind(&self) -> JobKind;

    /// Works on one table.
    async fn run_table(&self, cx: TableContext<'_>) -> Result<StepOutcome, StepError>;
}

/// A [`Job`] that runs a [`TableStep`] on every table in scope, at most `concurrency` tables
/// at a time.
pub struct TablePass<S> {
    step: S,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    concurrency: usize,
}

impl<S: TableStep> TablePass<S> {
    /// Wraps `step` into a job over the tables of `catalog`.
    pub fn new(
        step: S,
        catalog: Arc<CatalogHandle>,
        metrics: Arc<Metrics>,
        concurrency: usize,
    ) -> Self {
        Self { step, catalog, metrics, concurrency: concurrency.max(1) }
    }

    async fn run_on(
        &self,
        catalog: &SignalCatalog,
        id: &TableId,
        scope: &Scope,
        cancel: &CancellationToken,
    ) -> TableReport {
        let kind = self.step.kind();
        self.metrics.touch_table(id);
        let result = match catalog.catalog().load_table(&id.ident()).await {
            Err(source) => Err(StepError::Iceberg {
                action: "load table metadata".into(),
                source: Box::new(source),
            }),
            Ok(table) => {
                let cx = TableContext::new(id, &table, catalog, scope, cancel);
                let stats = cx.stats;
                self.metrics.set_table_stats(
                    id,
                    stats.data_files,
                    stats.data_bytes,
                    stats.snapshots,
                );
                self.step.run_table(cx).await
            }
        };
        let result = result.and_then(|outcome| match &outcome.error {
            None => Ok(outcome),
            Some(error) => {
                Err(StepError::Partial { error: error.clone(), outcome: Box::new(outcome) })
            }
        });
        match result {
            Ok(StepOutcome { summary, details, .. }) => TableReport::ok(id, summary, details),
            Err(e) => {
                self.metrics.record_table_failure(id, kind);
                error!(
                    target: "compactor",
                    job = %kind,
                    tenant = %id.tenant,
                    dataset = %id.dataset,
                    table = %id.signal,
                    error = %e,
                    "{kind} failed for table {id}"
                );
                let mut report = TableReport::failed(id, e.to_string());
                if let StepError::Partial { outcome, .. } = e {
                    report.summary = outcome.summary;
                    report.details = outcome.details;
                }
                report
            }
        }
    }
}

#[async_trait]
impl<S: TableStep> Job for TablePass<S> {
    fn kind(&self) -> JobKind {
        self.step.kind()
    }

    async fn run(&self, scope: &Scope, cancel: &CancellationToken) -> JobReport {
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
        let catalog = catalog.as_ref();
        report.tables = futures::stream::iter(ids)
            .take_while(|_| std::future::ready(!cancel.is_cancelled()))
            .map(|id| async move { self.run_on(catalog, &id, scope, cancel).await })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        report.tables.sort_by(|a, b| {
            (&a.tenant, &a.dataset, a.table).cmp(&(&b.tenant, &b.dataset, b.table))
        });
        report.finish(started.elapsed())
    }
}

#[cfg(test)]
mod tests;
