//! The leases a pass takes on its tables: one per table and job, taken before the step runs,
//! renewed in the background while it works, released when it is done.
//!
//! A table whose lease another instance (or another job) holds is skipped, never waited on. A
//! lease found lost while working (a renewal saw it expired or taken over) cancels the step at
//! its next safe point; its commits are fenced anyway, so nothing it staged can land.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::catalog::SignalCatalog;
use common::tables::TableId;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::instance::InstanceId;
use crate::job::JobKind;
use crate::lease::{Holder, Lease, LeaseStore};
use crate::log_target;
use crate::metrics::LeaseMetrics;

/// How a pass leases its tables, from `[compactor]`.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The owner written in the lease table.
    pub instance: Arc<InstanceId>,
    /// How long a lease lasts unless renewed.
    pub ttl: Duration,
    /// Time between two renewals.
    pub renew_interval: Duration,
    /// The process's table locks, shared by every pass of the instance.
    pub locks: Arc<TableLocks>,
}

/// One lock per table for the passes of one process: two jobs of the same instance take
/// turns on a table (as they did before leases) instead of skipping it, so a lease is only
/// ever refused because of another instance.
#[derive(Debug, Default)]
pub struct TableLocks {
    locks: std::sync::Mutex<std::collections::HashMap<TableId, Arc<tokio::sync::Mutex<()>>>>,
}

impl TableLocks {
    /// Waits for `id`'s lock; held until the guard is dropped.
    pub(super) async fn lock(&self, id: &TableId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(locks.entry(id.clone()).or_default())
        };
        lock.lock_owned().await
    }
}

/// The leases of one pass of one job.
pub(super) struct Leasing<'a> {
    pub(super) store: LeaseStore,
    /// The catalog the lease table is in, told about failed lease statements.
    pub(super) catalog: &'a SignalCatalog,
    pub(super) settings: &'a LeaseSettings,
    pub(super) metrics: &'a LeaseMetrics,
    pub(super) job: JobKind,
}

/// What asking for a table's lease gave.
pub(super) enum Taken {
    /// This instance holds it until [`WorkLease::finish`].
    Held(WorkLease),
    /// Another instance or job holds it (who, when it could still be read).
    Busy(Option<Holder>),
    /// The lease table could not be read or written.
    Failed(String),
}

/// A lease held while a step works on its table, renewed in the background.
pub(super) struct WorkLease {
    lease: Lease,
    stop: CancellationToken,
    lost: CancellationToken,
    renewer: JoinHandle<()>,
}

impl Leasing<'_> {
    fn ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.ttl).unwrap_or(chrono::Duration::MAX)
    }

    /// Asks for `id`'s lease; when held, renewals start and `work` is cancelled if it is lost.
    pub(super) async fn take(&self, id: &TableId, work: &CancellationToken) -> Taken {
        let owner = self.settings.instance.as_str();
        let label = [self.job.as_str()];
        let now = Utc::now();
        match self.store.acquire(id, self.job, owner, now, self.ttl()).await {
            Ok(Some(lease)) => {
                self.metrics.acquired.with_label_values(&label).inc();
                self.metrics.held.with_label_values(&label).inc();
                if let Some(from) = &lease.taken_from {
                    self.metrics.taken_over.with_label_values(&label).inc();
                    info!(
                        target: log_target::SERVICE,
                        job = %self.job, tenant = %id.tenant, dataset = %id.dataset,
                        table = %id.table, from = %from, token = lease.token,
                        "Took over the {} lease of {id} from {from}, whose lease expired unreleased",
                        self.job
                    );
                }
                Taken::Held(self.renewed(lease, work))
            }
            Ok(None) => {
                self.metrics.skipped.with_label_values(&label).inc();
                // The holder may have released it since: the report then names no one.
                Taken::Busy(self.store.holder_of(id, now).await.ok().flatten())
            }
            Err(e) => {
                self.catalog.observe(&e);
                Taken::Failed(e.to_string())
            }
        }
    }

    /// `lease`, renewed every renewal interval until finished; a renewal that finds it gone
    /// (or cannot reach the database until it expires) marks it lost and cancels `work`.
    fn renewed(&self, lease: Lease, work: &CancellationToken) -> WorkLease {
        let (stop, lost) = (CancellationToken::new(), CancellationToken::new());
        let (store, ttl, every) = (self.store.clone(), self.ttl(), self.settings.renew_interval);
        let (mut renewing, stopped, lost_it, work) =
            (lease.clone(), stop.clone(), lost.clone(), work.clone());
        let renewer = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stopped.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                let held = match store.renew(&mut renewing, Utc::now(), ttl).await {
                    Ok(held) => held,
                    Err(e) => {
                        warn!(target: log_target::SERVICE, error = %e, "Lease renewal failed; retrying");
                        Utc::now() < renewing.expires_at
                    }
                };
                if !held {
                    lost_it.cancel();
                    work.cancel();
                    return;
                }
            }
        });
        WorkLease { lease, stop, lost, renewer }
    }
}

impl WorkLease {
    /// The lease the step's commits are fenced by.
    pub(super) fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Stops renewing and releases the lease; `true` when it was lost before the step ended
    /// (a renewal found it gone, or it no longer holds now).
    pub(super) async fn finish(self, leasing: &Leasing<'_>) -> bool {
        self.stop.cancel();
        let _ = self.renewer.await;
        let label = [leasing.job.as_str()];
        leasing.metrics.held.with_label_values(&label).dec();
        let mut lease = self.lease;
        // A database that cannot answer leaves the lease held until its expiry.
        let still_held = !self.lost.is_cancelled()
            && match leasing.store.renew(&mut lease, Utc::now(), leasing.ttl()).await {
                Ok(held) => held,
                Err(_) => Utc::now() < lease.expires_at,
            };
        if !still_held {
            leasing.metrics.lost.with_label_values(&label).inc();
            return true;
        }
        if let Err(e) = leasing.store.release(&lease).await {
            warn!(
                target: log_target::SERVICE, error = %e, job = %leasing.job,
                "Lease not released; it expires after its TTL"
            );
        }
        false
    }
}

#[cfg(test)]
mod tests;
