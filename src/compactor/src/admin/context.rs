//! [`AdminContext`]: what every admin handler, of the API and of the page, shares. A leaf
//! the handler modules take it from, so none of them reaches up into `admin`.

use std::sync::Arc;

use common::config::AdminConfig;
use tokio_util::sync::CancellationToken;

use super::auth::Access;
use super::runs::TriggeredRuns;
use crate::assembly::Assembly;
use crate::health::Health;

/// What the admin handlers share.
pub(crate) struct AdminContext {
    /// The process's assembly: the jobs a run starts, the catalog, the configuration.
    pub(crate) assembly: Arc<Assembly>,
    /// The token rules.
    pub(crate) access: Arc<Access>,
    /// The runs started through the API.
    pub(crate) runs: Arc<TriggeredRuns>,
    /// The readiness of the catalog and the object store, for the page.
    pub(crate) health: Arc<Health>,
}

impl AdminContext {
    /// The admin context of `assembly` under `config`; its runs are cancelled by `shutdown`.
    pub(crate) fn new(
        assembly: Arc<Assembly>,
        health: Arc<Health>,
        config: &AdminConfig,
        shutdown: CancellationToken,
    ) -> Self {
        let access = Arc::new(Access::new(config.token().cloned(), config.protect_reads));
        let clock = Arc::clone(assembly.clock());
        let runs = Arc::new(TriggeredRuns::new(config.max_concurrent_runs, shutdown, clock));
        Self { assembly, access, runs, health }
    }

    /// Cancels the runs in flight and waits for them to stop at their safe points.
    pub(crate) async fn stop(&self) {
        self.runs.stop().await;
    }
}
