//! The service: runs what [`Assembly`] built — the daemon (schedulers, readiness probe and
//! the HTTP endpoint, until shutdown), `run --once` and the one-shot commands.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::catalog::CatalogHandle;
use common::config::Config;
use common::storage::StorageError;
use futures::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::admin::{self, AdminContext};
use crate::assembly::Assembly;
use crate::health::{Component, Health};
use crate::http::{self, HttpError};
use crate::job::{JobKind, Scope};
use crate::log_target;
use crate::metrics::Metrics;
use crate::report::JobReport;
use crate::scheduler::run_periodic;
use crate::status::{self, StatusReport};

/// How often `/readyz`'s view of the catalog and object store is refreshed.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(15);
/// How old the last successful probe may be for `/readyz` to report ready.
pub(crate) const PROBE_STALENESS: Duration = Duration::from_secs(60);
/// How long one probe may take: a dependency that does not answer in time (an object store
/// whose requests are retried for minutes, a catalog that hangs) counts as failing at once.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors that stop the service from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The warehouse could not be opened.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The HTTP endpoint could not be started.
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// The running compactor: the assembled runnable set, health, and the HTTP endpoint.
pub struct Service {
    assembly: Arc<Assembly>,
    health: Arc<Health>,
    metrics_port: u16,
    shutdown_timeout: Duration,
}

impl Service {
    /// Assembles the service from `config` (see [`Assembly`]).
    pub fn new(config: Config) -> Result<Self, ServiceError> {
        Ok(Self {
            assembly: Arc::new(Assembly::new(&config)?),
            health: Arc::new(Health::new(PROBE_STALENESS)),
            metrics_port: config.compactor.metrics_port,
            shutdown_timeout: config.compactor.shutdown_timeout(),
        })
    }

    /// The metrics registry every job reports to.
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.assembly.metrics()
    }

    /// Runs one pass of `kind` now, whether or not its scheduler is enabled; `scope.dry_run`
    /// is combined with the configured dry run (either one makes the pass a dry run).
    pub async fn run_once(
        &self,
        kind: JobKind,
        scope: Scope,
        cancel: &CancellationToken,
    ) -> JobReport {
        let mut reports = self.assembly.one_shot(kind).run(&scope, cancel).await;
        reports.pop().expect("one pass reports once")
    }

    /// The status of every table in `scope` (its dry run is ignored: status changes nothing).
    pub async fn status(&self, scope: &Scope) -> StatusReport {
        let now = self.assembly.clock().now();
        let (catalog, config) = (self.assembly.catalog(), self.assembly.config());
        status::status_through(catalog, config, scope, now).await
    }

    /// Runs one pass of every enabled job in lifecycle order, each with its configured dry
    /// run: compaction, retention, then orphan cleanup — after retention's pause when
    /// retention ran, so the cleanup reclaims what retention released.
    pub async fn run_lifecycle_once(
        &self,
        scope: Scope,
        cancel: &CancellationToken,
    ) -> Vec<JobReport> {
        let mut reports = Vec::new();
        for runnable in self.assembly.once() {
            if cancel.is_cancelled() {
                break;
            }
            reports.extend(runnable.run(&scope, cancel).await);
        }
        reports
    }

    /// Runs the daemon: the HTTP endpoint on `metrics_port`, the readiness probe and one
    /// scheduler per enabled job, until `shutdown` fires; then waits up to
    /// `shutdown_timeout_secs` for passes in flight to stop at a safe point.
    pub async fn run_daemon(self, shutdown: CancellationToken) -> Result<(), ServiceError> {
        let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.metrics_port));
        let listener = http::bind(addr).await?;
        info!(
            target: log_target::SERVICE,
            instance = %self.assembly.instance(),
            lease_ttl_secs = self.assembly.config().lease_ttl_secs,
            "Compactor instance {} starting", self.assembly.instance()
        );

        let mut tasks = JoinSet::new();
        let mut router = http::router(Arc::clone(self.metrics()), Arc::clone(&self.health));
        let admin_config = &self.assembly.config().admin;
        let admin = admin_config.enabled.then(|| {
            Arc::new(AdminContext::new(
                Arc::clone(&self.assembly),
                Arc::clone(&self.health),
                admin_config,
                shutdown.child_token(),
            ))
        });
        if let Some(admin) = &admin {
            router = router.merge(admin::router(Arc::clone(admin), admin_config));
        }
        let router = http::with_fallbacks(router);
        let http_shutdown = CancellationToken::new();
        let http_task =
            tokio::spawn(http::serve(listener, router, admin.is_some(), http_shutdown.clone()));
        tasks.spawn(probe_loop(
            Arc::clone(self.assembly.catalog()),
            Arc::clone(&self.health),
            shutdown.clone(),
        ));
        for (spec, schedule) in self.assembly.schedules() {
            let kind = spec.kind;
            let Some(schedule) = schedule else {
                info!(target: log_target::SERVICE, job = %kind, "{}", spec.disabled_message());
                continue;
            };
            info!(
                target: log_target::SERVICE,
                job = %kind,
                interval_secs = schedule.interval.as_secs(),
                dry_run = schedule.scope.dry_run,
                "Scheduling {kind}"
            );
            tasks.spawn(run_periodic(schedule, Arc::clone(self.metrics()), shutdown.clone()));
        }

        shutdown.cancelled().await;
        let timeout = self.shutdown_timeout;
        info!(target: log_target::SERVICE, timeout_secs = timeout.as_secs(), "Shutting down");
        let stopped = async {
            while tasks.join_next().await.is_some() {}
            if let Some(admin) = &admin {
                admin.stop().await;
            }
        };
        if tokio::time::timeout(timeout, stopped).await.is_err() {
            warn!(
                target: log_target::SERVICE,
                timeout_secs = timeout.as_secs(),
                "Passes still running after the shutdown timeout are abandoned; \
                 no snapshot is half-committed (commits are atomic)"
            );
            tasks.abort_all();
        }
        http_shutdown.cancel();
        if let Ok(Err(e)) = http_task.await {
            warn!(target: log_target::SERVICE, error = %e, "HTTP endpoint stopped with an error");
        }
        info!(target: log_target::SERVICE, "Compactor stopped");
        Ok(())
    }
}

/// Checks every [`PROBE_INTERVAL`] that the catalog and the object store answer.
async fn probe_loop(catalog: Arc<CatalogHandle>, health: Arc<Health>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(PROBE_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let answered = bounded(async {
            let c = catalog.get().await.map_err(|e| e.to_string())?;
            // A fresh connection first: a server that is down says so at once and why, where
            // the pool would wait out its acquire timeout and say only "pool timed out".
            if let Some(cause) = c.connection_problem().await {
                return Err(format!("connecting to Iceberg catalog `{}`: {cause}", c.name()));
            }
            c.list_table_idents().await.map(|_| ()).map_err(|e| e.to_string())
        });
        match answered.await {
            Ok(()) => health.record_ok(Component::Catalog),
            Err(e) => health.record_failure(Component::Catalog, &e),
        }
        let warehouse = catalog.warehouse();
        let store = warehouse.object_store();
        let answered = bounded(async {
            match store.list(Some(warehouse.prefix())).next().await {
                None | Some(Ok(_)) => Ok(()),
                Some(Err(e)) => Err(e.to_string()),
            }
        });
        match answered.await {
            Ok(()) => health.record_ok(Component::ObjectStore),
            Err(e) => health.record_failure(Component::ObjectStore, &e),
        }
    }
}

/// `probe`'s answer, or a failure once it has taken [`PROBE_TIMEOUT`].
async fn bounded(probe: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(PROBE_TIMEOUT, probe)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())))
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
