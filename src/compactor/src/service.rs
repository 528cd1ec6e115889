//! Service assembly: the one place that turns the configuration into an object store, a
//! catalog handle, metrics, jobs and schedulers, and runs them until shutdown.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::clock::{Clock, SystemClock};
use common::config::Config;
use common::storage::{StorageError, Warehouse};
use futures::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::health::{Component, Health};
use crate::http::{self, HttpError};
use crate::job::{Job, JobKind, JobReport, Scope};
use crate::jobs;
use crate::lifecycle::{FollowUp, RetentionLifecycle};
use crate::metrics::Metrics;
use crate::scheduler::{Schedule, run_pass, run_periodic};
use crate::tables::CatalogHandle;

/// How often `/readyz`'s view of the catalog and object store is refreshed.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(15);
/// How old the last successful probe may be for `/readyz` to report ready.
pub const PROBE_STALENESS: Duration = Duration::from_secs(60);

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

/// The assembled compactor: configuration, shared handles, metrics and health.
pub struct Service {
    config: Config,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    clock: Arc<dyn Clock>,
}

impl Service {
    /// Assembles the service; the catalog connects on first use, so a database that is down
    /// only fails passes until it is back.
    pub fn new(config: Config) -> Result<Self, ServiceError> {
        let warehouse = Warehouse::open(&config.storage)?;
        let catalog = Arc::new(CatalogHandle::new(config.schema.clone(), warehouse));
        Ok(Self {
            config,
            catalog,
            metrics: Arc::new(Metrics::new()),
            health: Arc::new(Health::new(PROBE_STALENESS)),
            clock: Arc::new(SystemClock),
        })
    }

    /// The metrics registry every job reports to.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The job of `kind`.
    pub fn job(&self, kind: JobKind) -> Arc<dyn Job> {
        jobs::build(
            kind,
            &self.config.compactor,
            Arc::clone(&self.catalog),
            Arc::clone(&self.metrics),
            Arc::clone(&self.clock),
        )
    }

    /// Whether the daemon runs `kind` (`enabled` of its section).
    pub fn enabled(&self, kind: JobKind) -> bool {
        let c = &self.config.compactor;
        match kind {
            JobKind::Compaction => c.enabled,
            JobKind::Retention => c.retention.enabled,
            JobKind::OrphanCleanup => c.orphan_cleanup.enabled,
        }
    }

    /// The configured dry-run setting of `kind`.
    pub fn configured_dry_run(&self, kind: JobKind) -> bool {
        let c = &self.config.compactor;
        match kind {
            JobKind::Compaction => c.dry_run,
            JobKind::Retention => c.retention.dry_run,
            JobKind::OrphanCleanup => c.orphan_cleanup.dry_run,
        }
    }

    fn interval(&self, kind: JobKind) -> Duration {
        let c = &self.config.compactor;
        match kind {
            JobKind::Compaction => c.compaction_interval(),
            JobKind::Retention => c.retention.check_interval(),
            JobKind::OrphanCleanup => c.orphan_cleanup.cleanup_interval(),
        }
    }

    /// Runs one pass of `kind` now, whether or not its scheduler is enabled; `scope.dry_run`
    /// is combined with the configured dry run (either one makes the pass a dry run).
    pub async fn run_once(
        &self,
        kind: JobKind,
        mut scope: Scope,
        cancel: &CancellationToken,
    ) -> JobReport {
        scope.dry_run |= self.configured_dry_run(kind);
        run_pass(self.job(kind).as_ref(), &scope, &self.metrics, cancel).await
    }

    /// Retention followed, when orphan cleanup is enabled, by `orphans` (or a new orphan job)
    /// over the same tables after `lifecycle_pause_secs`.
    pub fn retention_lifecycle(&self, orphans: Option<Arc<dyn Job>>) -> RetentionLifecycle {
        let follow_up = self.enabled(JobKind::OrphanCleanup).then(|| FollowUp {
            job: orphans.unwrap_or_else(|| self.job(JobKind::OrphanCleanup)),
            pause: self.config.compactor.orphan_cleanup.lifecycle_pause(),
            dry_run: self.configured_dry_run(JobKind::OrphanCleanup),
        });
        RetentionLifecycle::new(self.job(JobKind::Retention), follow_up, Arc::clone(&self.metrics))
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
        let mut orphans_done = false;
        for kind in JobKind::ALL.into_iter().filter(|k| self.enabled(*k)) {
            if cancel.is_cancelled() {
                break;
            }
            match kind {
                JobKind::Retention => {
                    let scope = Scope {
                        dry_run: scope.dry_run || self.configured_dry_run(kind),
                        ..scope.clone()
                    };
                    reports.extend(self.retention_lifecycle(None).run_all(&scope, cancel).await);
                    orphans_done = self.enabled(JobKind::OrphanCleanup);
                }
                JobKind::OrphanCleanup if orphans_done => {}
                _ => reports.push(self.run_once(kind, scope.clone(), cancel).await),
            }
        }
        reports
    }

    /// Runs the daemon: the HTTP endpoint on `metrics_port`, the readiness probe and one
    /// scheduler per enabled job, until `shutdown` fires; then waits up to
    /// `shutdown_timeout_secs` for passes in flight to stop at a safe point.
    pub async fn run_daemon(self, shutdown: CancellationToken) -> Result<(), ServiceError> {
        let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.config.compactor.metrics_port));
        let listener = http::bind(addr).await?;

        let mut tasks = JoinSet::new();
        let router = http::router(Arc::clone(&self.metrics), Arc::clone(&self.health));
        let http_shutdown = CancellationToken::new();
        let http_task = tokio::spawn(http::serve(listener, router, http_shutdown.clone()));
        tasks.spawn(probe_loop(
            Arc::clone(&self.catalog),
            Arc::clone(&self.health),
            shutdown.clone(),
        ));
        // One orphan job serves its own scheduler and the cleanup after each retention pass,
        // so two cleanup passes never overlap.
        let orphans = self.job(JobKind::OrphanCleanup);
        for kind in JobKind::ALL {
            if !self.enabled(kind) {
                info!(target: "compactor", job = %kind, "{}", disabled_message(kind));
                continue;
            }
            let job = match kind {
                JobKind::Compaction => self.job(kind),
                JobKind::Retention => {
                    Arc::new(self.retention_lifecycle(Some(Arc::clone(&orphans))))
                }
                JobKind::OrphanCleanup => Arc::clone(&orphans),
            };
            let schedule = Schedule {
                job,
                interval: self.interval(kind),
                scope: Scope { dry_run: self.configured_dry_run(kind), ..Scope::default() },
            };
            info!(
                target: "compactor",
                job = %kind,
                interval_secs = schedule.interval.as_secs(),
                dry_run = schedule.scope.dry_run,
                "Scheduling {kind}"
            );
            tasks.spawn(run_periodic(schedule, Arc::clone(&self.metrics), shutdown.clone()));
        }

        shutdown.cancelled().await;
        let timeout = self.config.compactor.shutdown_timeout();
        info!(target: "compactor", timeout_secs = timeout.as_secs(), "Shutting down");
        if tokio::time::timeout(timeout, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            warn!(
                target: "compactor",
                timeout_secs = timeout.as_secs(),
                "Passes still running after the shutdown timeout are abandoned; \
                 no snapshot is half-committed (commits are atomic)"
            );
            tasks.abort_all();
        }
        http_shutdown.cancel();
        if let Ok(Err(e)) = http_task.await {
            warn!(target: "compactor", error = %e, "HTTP endpoint stopped with an error");
        }
        info!(target: "compactor", "Compactor stopped");
        Ok(())
    }
}

/// The log line for a job whose scheduler is disabled.
pub fn disabled_message(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Compaction => "Compaction disabled",
        JobKind::Retention => "Retention enforcement disabled",
        JobKind::OrphanCleanup => "Orphan cleanup disabled",
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
        match catalog.get().await {
            Ok(c) => match c.list_table_idents().await {
                Ok(_) => health.record_ok(Component::Catalog),
                Err(e) => health.record_failure(Component::Catalog, &e.to_string()),
            },
            Err(e) => health.record_failure(Component::Catalog, &e.to_string()),
        }
        let warehouse = catalog.warehouse();
        let store = warehouse.object_store();
        match store.list(Some(warehouse.prefix())).next().await {
            None | Some(Ok(_)) => health.record_ok(Component::ObjectStore),
            Some(Err(e)) => health.record_failure(Component::ObjectStore, &e.to_string()),
        }
    }
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
