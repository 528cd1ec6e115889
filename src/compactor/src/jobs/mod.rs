//! The maintenance jobs, each one [`TableStep`](crate::tables::TableStep) turned into a
//! [`Job`] by [`TablePass`].

mod survey;

use std::sync::Arc;

use common::clock::Clock;
use common::config::CompactorConfig;

pub use survey::Survey;

use crate::compaction::{CompactionSettings, CompactionStep};
use crate::job::{Job, JobKind};
use crate::metrics::Metrics;
use crate::retention::{RetentionJob, RetentionSettings, RetentionStep};
use crate::tables::{CatalogHandle, TablePass};

/// Builds the job of `kind` from its configuration.
pub fn build(
    kind: JobKind,
    config: &CompactorConfig,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
) -> Arc<dyn Job> {
    let concurrency = config.max_concurrent_jobs;
    match kind {
        JobKind::Compaction => {
            let settings = CompactionSettings::from(config);
            let step = CompactionStep::new(settings, Arc::clone(&metrics), clock);
            // `max_concurrent_jobs` bounds the groups rewritten at once (inside the step), so
            // tables are taken one at a time.
            Arc::new(TablePass::new(step, catalog, metrics, 1))
        }
        JobKind::Retention => {
            let settings = RetentionSettings::from(config);
            let step = RetentionStep::new(settings, Arc::clone(&metrics), clock);
            let pass = TablePass::new(step, catalog, Arc::clone(&metrics), concurrency);
            Arc::new(RetentionJob::new(pass, metrics))
        }
        JobKind::OrphanCleanup => Arc::new(crate::orphan::OrphanCleanupJob::new(
            crate::orphan::OrphanSettings::from(&config.orphan_cleanup),
            catalog,
            metrics,
            clock,
            concurrency,
        )),
    }
}
