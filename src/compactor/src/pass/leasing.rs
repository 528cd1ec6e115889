//! The leases a pass takes on its tables: one per table and job, taken before the step runs,
//! renewed in the background while it works, released when it is done.
//!
//! A table whose lease another instance (or another job) holds is skipped, never waited on. A
//! lease found lost while working (a renewal saw it expired or taken over) cancels the step at
//! its next safe point; its commits are fenced anyway, so nothing it staged can land.
//!
//! Expiry is the database's to judge. Only while the database cannot answer does this process
//! judge for itself, by its monotonic clock: a lease counts as held until the TTL after the
//! moment the last acquisition or renewal that succeeded was sent, which is never later than
//! the expiry the database set.

use std::sync::Arc;
use std::time::Duration;

use common::catalog::SignalCatalog;
use common::tables::TableId;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::instance::InstanceId;
use crate::job::JobKind;
use crate::log_target;
use crate::metrics::LeaseMetrics;
use crate::state::{Holder, Lease, Leases};

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
    pub(super) leases: Leases,
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
    /// The renewals; when stopped, they give the local deadline of the last one that held.
    renewer: JoinHandle<Instant>,
    /// The local deadline of the acquisition: the TTL after its statement was sent.
    deadline: Instant,
}

impl Leasing<'_> {
    /// Asks for `id`'s lease; when held, renewals start and `work` is cancelled if it is lost.
    pub(super) async fn take(&self, id: &TableId, work: &CancellationToken) -> Taken {
        let owner = self.settings.instance.as_str();
        let label = [self.job.as_str()];
        let asked = Instant::now();
        match self.leases.acquire(id, self.job, owner, self.settings.ttl).await {
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
                Taken::Held(self.renewed(lease, until(asked, self.settings.ttl), work))
            }
            Ok(None) => {
                self.metrics.skipped.with_label_values(&label).inc();
                // The holder may have released it since: the report then names no one.
                Taken::Busy(self.leases.holder_of(id).await.ok().flatten())
            }
            Err(e) => {
                self.catalog.observe(&e);
                Taken::Failed(e.to_string())
            }
        }
    }

    /// `lease` (held until `deadline` by the local clock), renewed every renewal interval
    /// until finished; a renewal that finds it gone (or cannot reach the database until the
    /// local deadline of the last renewal that held) marks it lost and cancels `work`.
    fn renewed(&self, lease: Lease, deadline: Instant, work: &CancellationToken) -> WorkLease {
        let (stop, lost) = (CancellationToken::new(), CancellationToken::new());
        let (leases, ttl, every) =
            (self.leases.clone(), self.settings.ttl, self.settings.renew_interval);
        let (mut renewing, stopped, lost_it, work) =
            (lease.clone(), stop.clone(), lost.clone(), work.clone());
        let renewer = tokio::spawn(async move {
            let mut deadline = deadline;
            loop {
                tokio::select! {
                    () = stopped.cancelled() => return deadline,
                    () = tokio::time::sleep(every) => {}
                }
                let held = match renew(&leases, &mut renewing, ttl, &mut deadline).await {
                    Ok(held) => held,
                    Err(e) => {
                        warn!(target: log_target::SERVICE, error = %e, "Lease renewal failed; retrying");
                        Instant::now() < deadline
                    }
                };
                if !held {
                    lost_it.cancel();
                    work.cancel();
                    return deadline;
                }
            }
        });
        WorkLease { lease, stop, lost, renewer, deadline }
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
        let mut deadline = self.renewer.await.unwrap_or(self.deadline);
        let label = [leasing.job.as_str()];
        leasing.metrics.held.with_label_values(&label).dec();
        let mut lease = self.lease;
        // A database that cannot answer leaves the lease held until its local deadline.
        let ttl = leasing.settings.ttl;
        let still_held = !self.lost.is_cancelled()
            && match renew(&leasing.leases, &mut lease, ttl, &mut deadline).await {
                Ok(held) => held,
                Err(_) => Instant::now() < deadline,
            };
        if !still_held {
            leasing.metrics.lost.with_label_values(&label).inc();
            return true;
        }
        if let Err(e) = leasing.leases.release(&lease).await {
            warn!(
                target: log_target::SERVICE, error = %e, job = %leasing.job,
                "Lease not released; it expires after its TTL"
            );
        }
        false
    }
}

/// Renews `lease` for `ttl`; when it still holds, `deadline` moves to the TTL after the
/// renewal was sent (by the local monotonic clock, never compared with the database's).
async fn renew(
    leases: &Leases,
    lease: &mut Lease,
    ttl: Duration,
    deadline: &mut Instant,
) -> Result<bool, crate::state::StateError> {
    let asked = Instant::now();
    let held = leases.renew(lease, ttl).await?;
    if held {
        *deadline = until(asked, ttl);
    }
    Ok(held)
}

/// `ttl` after `asked`, or a century when that is past what the clock can tell.
fn until(asked: Instant, ttl: Duration) -> Instant {
    asked.checked_add(ttl).unwrap_or_else(|| asked + Duration::from_secs(100 * 365 * 86_400))
}

#[cfg(test)]
mod tests;
