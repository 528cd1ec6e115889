use std::collections::HashSet;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use common::TableKind;
use common::catalog::{CatalogHandle, ensure_table};

use super::*;
use crate::assembly::PassSettings;
use crate::compaction::CompactionOutcome;
use crate::job::Scope;
use crate::metrics::Metrics;
use crate::pass::{Job, TablePass};
use crate::state::StateStore;
use crate::step::{StepError, StepOutcome, TableContext, TableStep};
use crate::test_support::TempCatalog;

/// A step that stays on each table for `delay` (or until cancelled), failing the test if a
/// table is ever worked on twice at the same time, and counting the tables it worked on.
struct Probe {
    kind: JobKind,
    delay: std::time::Duration,
    in_flight: Arc<StdMutex<HashSet<TableId>>>,
    worked: Arc<AtomicUsize>,
    fenced: Arc<AtomicUsize>,
}

#[async_trait]
impl TableStep for Probe {
    type Outcome = CompactionOutcome;
    type Pass = ();

    async fn begin_pass(
        &self,
        _: &common::catalog::SignalCatalog,
        _: &crate::job::Scope,
    ) -> Result<(), crate::failure::Failure> {
        Ok(())
    }

    fn kind(&self) -> JobKind {
        self.kind
    }

    async fn run_table(
        &self,
        (): &(),
        cx: TableContext<'_>,
    ) -> Result<StepOutcome<CompactionOutcome>, StepError> {
        assert!(self.in_flight.lock().unwrap().insert(cx.id.clone()), "{} twice at once", cx.id);
        self.fenced.fetch_add(usize::from(cx.fence.is_some()), Ordering::SeqCst);
        tokio::select! {
            () = tokio::time::sleep(self.delay) => {}
            () = cx.cancel.cancelled() => {}
        }
        self.in_flight.lock().unwrap().remove(cx.id);
        self.worked.fetch_add(1, Ordering::SeqCst);
        Ok(StepOutcome::ok("probed".into(), CompactionOutcome::default()))
    }
}

struct Fleet {
    temp: TempCatalog,
    handle: Arc<CatalogHandle>,
    in_flight: Arc<StdMutex<HashSet<TableId>>>,
    worked: Arc<AtomicUsize>,
    fenced: Arc<AtomicUsize>,
}

impl Fleet {
    async fn new(tables: &[TableId]) -> Self {
        let temp = TempCatalog::new().await;
        for id in tables {
            ensure_table(&temp.catalog, id).await.unwrap();
        }
        let handle = Arc::new(CatalogHandle::new(temp.schema.clone(), temp.warehouse.clone()));
        let (in_flight, worked, fenced) = Default::default();
        Self { temp, handle, in_flight, worked, fenced }
    }

    /// A pass of instance `host` staying `delay` on each table, leases renewed every 100 ms.
    fn instance(&self, host: &str, delay: u64, metrics: &Arc<Metrics>) -> TablePass<Probe> {
        let leases = LeaseSettings {
            instance: Arc::new(InstanceId::with_host(host)),
            ttl: Duration::from_secs(2),
            renew_interval: Duration::from_millis(100),
            locks: Arc::default(),
        };
        self.job(JobKind::Compaction, &leases, delay, metrics)
    }

    /// A pass of `kind` leasing as `leases` says, staying `delay` on each table.
    fn job(
        &self,
        kind: JobKind,
        leases: &LeaseSettings,
        delay: u64,
        metrics: &Arc<Metrics>,
    ) -> TablePass<Probe> {
        let probe = Probe {
            kind,
            delay: std::time::Duration::from_millis(delay),
            in_flight: Arc::clone(&self.in_flight),
            worked: Arc::clone(&self.worked),
            fenced: Arc::clone(&self.fenced),
        };
        let settings = PassSettings::new(2, 1024)
            .with_leases(leases.clone())
            .components(metrics, Arc::new(common::clock::SystemClock));
        TablePass::new(probe, Arc::clone(&self.handle), Arc::clone(metrics), settings)
    }
}

fn tables(n: usize) -> Vec<TableId> {
    (0..n)
        .flat_map(|t| {
            TableKind::SIGNAL_NAMED
                .into_iter()
                .map(move |s| TableId::new(&format!("t{t}"), "prod", s).unwrap())
        })
        .collect()
}

fn count(family: &prometheus::IntCounterVec) -> u64 {
    family.with_label_values(&["compaction"]).get()
}

#[tokio::test]
async fn instances_never_work_on_one_table_at_once_and_skip_what_another_holds() {
    let ids = tables(3);
    let fleet = Fleet::new(&ids).await;
    let metrics: Vec<Arc<Metrics>> = (0..3).map(|_| Arc::new(Metrics::new())).collect();
    let passes: Vec<_> =
        (0..3).map(|i| fleet.instance(&format!("node-{i}"), 150, &metrics[i])).collect();
    let (cancel, scope) = (CancellationToken::new(), Scope::default());
    let reports = futures::future::join_all(passes.iter().map(|p| p.run(&scope, &cancel))).await;

    let mut skipped = 0;
    for (report, m) in reports.iter().zip(&metrics) {
        assert!(report.succeeded(), "{report:?}");
        assert_eq!(report.tables.len(), ids.len(), "every table is reported by every instance");
        let s = report.tables.iter().filter(|t| t.skipped.is_some()).count();
        skipped += s;
        assert_eq!(count(&m.leases.skipped), s as u64);
        assert_eq!(count(&m.leases.acquired), (ids.len() - s) as u64);
        assert_eq!(m.leases.held.with_label_values(&["compaction"]).get(), 0, "all released");
        for t in report.tables.iter().filter(|t| t.skipped.is_some()) {
            // Named unless its holder released it between the two queries.
            if let Some(held_by) = &t.skipped.as_ref().unwrap().held_by {
                assert!(held_by.starts_with("node-"), "{t:?}");
                assert!(t.summary.contains("holds its compaction lease"), "{}", t.summary);
            }
        }
    }
    let worked = fleet.worked.load(Ordering::SeqCst);
    assert_eq!(worked + skipped, 3 * ids.len());
    assert!(worked >= ids.len(), "every table was worked on at least once");
    assert_eq!(fleet.fenced.load(Ordering::SeqCst), worked, "every step ran fenced");
    assert!(skipped > 0, "three instances starting together met on some table");

    // The history names who worked on each table; no lease is left behind.
    let state = StateStore::open(&fleet.temp.catalog).await.unwrap();
    let history = state.runs();
    let mut recorded = 0;
    for id in &ids {
        let runs = history.runs(id, JobKind::Compaction, 10).await.unwrap();
        assert!(runs.iter().all(|r| r.instance.starts_with("node-")), "{runs:?}");
        recorded += runs.len();
    }
    assert_eq!(recorded, worked, "skipped tables are not recorded");
    assert_eq!(state.leases().holders().await.unwrap(), []);
}

#[tokio::test]
async fn a_lease_lost_while_working_stops_the_step_and_fails_the_table() {
    let id = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let fleet = Fleet::new(std::slice::from_ref(&id)).await;
    let metrics = Arc::new(Metrics::new());
    let pass = fleet.instance("node-0", 30_000, &metrics);
    let (cancel, scope) = (CancellationToken::new(), Scope::default());
    let run = pass.run(&scope, &cancel);
    let thief = async {
        // Once the pass holds the lease, another instance's row replaces it (as a takeover
        // after a stall would).
        let store = StateStore::open(&fleet.temp.catalog).await.unwrap().leases();
        loop {
            if let Some(h) = store.holder_of(&id).await.unwrap() {
                sqlx::query(&format!(
                    "UPDATE {} SET owner = 'thief', token = token + 1",
                    crate::state::LEASES_TABLE
                ))
                .execute(fleet.temp.catalog.pool())
                .await
                .unwrap();
                return h;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let started = std::time::Instant::now();
    let (report, holder) = tokio::join!(run, thief);
    assert!(holder.owner.starts_with("node-0-"), "{holder:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "the step was not stopped");
    let table = &report.tables[0];
    let error = table.error.as_deref().unwrap_or_default();
    assert!(error.contains("lease of acme.prod.logs was lost while working"), "{table:?}");
    assert_eq!(count(&metrics.leases.lost), 1);
    assert_eq!(count(&metrics.leases.acquired), 1);
}

#[tokio::test]
async fn two_jobs_of_one_instance_take_turns_on_a_table_instead_of_skipping_it() {
    let ids = tables(1);
    let fleet = Fleet::new(&ids).await;
    let metrics = Arc::new(Metrics::new());
    let leases = LeaseSettings {
        instance: Arc::new(InstanceId::with_host("node-0")),
        ttl: Duration::from_secs(2),
        renew_interval: Duration::from_millis(100),
        locks: Arc::default(),
    };
    let compaction = fleet.job(JobKind::Compaction, &leases, 200, &metrics);
    let retention = fleet.job(JobKind::Retention, &leases, 200, &metrics);
    let (cancel, scope) = (CancellationToken::new(), Scope::default());
    let (a, b) = tokio::join!(compaction.run(&scope, &cancel), retention.run(&scope, &cancel));
    for report in [&a, &b] {
        assert!(
            report.succeeded() && report.tables.iter().all(|t| t.skipped.is_none()),
            "{report:?}"
        );
    }
    assert_eq!(fleet.worked.load(Ordering::SeqCst), 2 * ids.len(), "both jobs worked every table");
    for job in ["compaction", "retention"] {
        assert_eq!(metrics.leases.skipped.with_label_values(&[job]).get(), 0, "{job}");
        assert_eq!(metrics.leases.acquired.with_label_values(&[job]).get(), ids.len() as u64);
    }
}

#[tokio::test]
async fn a_dry_run_takes_no_lease_and_reads_a_table_another_instance_holds() {
    let ids = tables(1);
    let fleet = Fleet::new(&ids).await;
    let store = StateStore::open(&fleet.temp.catalog).await.unwrap().leases();
    let ttl = Duration::from_secs(30);
    let held = store.acquire(&ids[0], JobKind::Compaction, "other", ttl).await;
    assert!(held.unwrap().is_some());
    let metrics = Arc::new(Metrics::new());
    let pass = fleet.instance("node-0", 10, &metrics);
    let scope = Scope { dry_run: true, ..Scope::default() };
    let report = pass.run(&scope, &CancellationToken::new()).await;
    assert!(report.succeeded() && report.tables.iter().all(|t| t.skipped.is_none()), "{report:?}");
    assert_eq!(fleet.worked.load(Ordering::SeqCst), ids.len(), "the held table too");
    assert_eq!(fleet.fenced.load(Ordering::SeqCst), 0, "a dry run commits nothing to fence");
    assert_eq!((count(&metrics.leases.acquired), count(&metrics.leases.skipped)), (0, 0));
}

#[tokio::test]
async fn a_lease_the_database_cannot_renew_is_held_until_its_local_deadline() {
    let id = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let fleet = Fleet::new(std::slice::from_ref(&id)).await;
    let settings = LeaseSettings {
        instance: Arc::new(InstanceId::with_host("node-0")),
        ttl: Duration::from_millis(800),
        renew_interval: Duration::from_millis(100),
        locks: Arc::default(),
    };
    let metrics = Metrics::new();
    let leasing = Leasing {
        leases: StateStore::open(&fleet.temp.catalog).await.unwrap().leases(),
        catalog: &fleet.temp.catalog,
        settings: &settings,
        metrics: &metrics.leases,
        job: JobKind::Compaction,
    };
    let work = CancellationToken::new();
    let Taken::Held(lease) = leasing.take(&id, &work).await else { panic!("the table is free") };
    // The database stops answering: renewals fail, and the lease counts as held until the TTL
    // after the acquisition was sent, by this process's monotonic clock.
    let started = std::time::Instant::now();
    fleet.temp.catalog.pool().close().await;
    let lost = tokio::time::timeout(Duration::from_secs(5), work.cancelled()).await;
    let waited = started.elapsed();
    assert!(lost.is_ok(), "still held {waited:?} after the database went away");
    assert!(waited >= Duration::from_millis(500), "given up after {waited:?}, before its deadline");
    assert!(lease.finish(&leasing).await, "the lease was lost");
    assert_eq!(count(&metrics.leases.lost), 1);
}
