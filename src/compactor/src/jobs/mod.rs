//! The maintenance jobs, each one [`TableStep`](crate::tables::TableStep) turned into a
//! [`Job`] by [`TablePass`].

mod survey;

use std::sync::Arc;

use common::config::CompactorConfig;

pub use survey::Survey;

use crate::job::{Job, JobKind};
use crate::metrics::Metrics;
use crate::tables::{CatalogHandle, TablePass};

/// Builds the job of `kind` from its configuration.
pub fn build(
    kind: JobKind,
    config: &CompactorConfig,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
) -> Arc<dyn Job> {
    let concurrency = config.max_concurrent_jobs;
    Arc::new(TablePass::new(Survey::new(kind), catalog, metrics, concurrency))
}
