//! The orphan-cleanup job: before each pass it reads the location of every table of the
//! catalog (for the shared-location check) and opens the checkpoint store, then runs
//! [`OrphanCleanupStep`] over the tables in scope through [`TablePass`].
//!
//! Passes of one job never overlap: the daemon shares one instance between the orphan
//! scheduler and the retention lifecycle, and a second pass waits for the first.

use std::sync::Arc;

use async_trait::async_trait;
use common::clock::Clock;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{OrphanCleanupStep, OrphanSettings};
use crate::job::{Job, JobKind, JobReport, Scope};
use crate::metrics::Metrics;
use crate::tables::{CatalogHandle, TablePass};

/// Orphan cleanup as a [`Job`].
pub struct OrphanCleanupJob {
    settings: OrphanSettings,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    concurrency: usize,
    running: Mutex<()>,
}

impl OrphanCleanupJob {
    /// A job cleaning up to `concurrency` tables of `catalog` at a time.
    pub fn new(
        settings: OrphanSettings,
        catalog: Arc<CatalogHandle>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        concurrency: usize,
    ) -> Self {
        Self { settings, catalog, metrics, clock, concurrency, running: Mutex::new(()) }
    }
}

#[async_trait]
impl Job for OrphanCleanupJob {
    fn kind(&self) -> JobKind {
        JobKind::OrphanCleanup
    }

    async fn run(&self, scope: &Scope, cancel: &CancellationToken) -> JobReport {
        let _one_pass_at_a_time = self.running.lock().await;
        let started = Instant::now();
        let failed = |error: String| {
            let mut report = JobReport::new(self.kind(), scope.dry_run, self.clock.now());
            report.errors.push(error);
            report.finish(started.elapsed())
        };
        let catalog = match self.catalog.get().await {
            Ok(catalog) => catalog,
            Err(e) => return failed(e.to_string()),
        };
        let step = match OrphanCleanupStep::prepare(
            &catalog,
            self.settings,
            Arc::clone(&self.metrics),
            Arc::clone(&self.clock),
            scope.dry_run,
        )
        .await
        {
            Ok(step) => step,
            Err(e) => return failed(format!("preparing orphan cleanup: {e}")),
        };
        let pass = TablePass::new(
            step,
            Arc::clone(&self.catalog),
            Arc::clone(&self.metrics),
            self.concurrency,
        );
        pass.run(scope, cancel).await
    }
}
