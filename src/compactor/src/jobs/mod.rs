//! The maintenance jobs, each one [`TableStep`](crate::tables::TableStep) turned into a
//! [`Job`] by [`TablePass`].

mod survey;

use std::sync::Arc;

use common::clock::Clock;
use common::config::CompactorConfig;

pub use survey::Survey;

use crate::compaction::{CompactionStep, PlanSettings};
use crate::job::{Job, JobKind};
use crate::metrics::Metrics;
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
            let step = CompactionStep::new(PlanSettings::from(config), clock);
            Arc::new(TablePass::new(step, catalog, metrics, concurrency))
        }
        JobKind::Retention | JobKind::OrphanCleanup => {
            Arc::new(TablePass::new(Survey::new(kind), catalog, metrics, concurrency))
        }
    }
}
