use common::TableKind;
use common::catalog::ensure_table;
use common::config::{SchemaConfig, StorageConfig};
use common::storage::Warehouse;
use iceberg::Catalog;

use common::clock::SystemClock;

use super::*;
use crate::assembly::PassSettings;
use crate::compaction::CompactionOutcome;
use crate::step::TableStats;

/// A step that only reads each table's size from its metadata (the pass already exports it
/// as gauges) and changes nothing: what every pass does before its job's own work.
#[derive(Debug, Clone, Copy)]
struct Survey {
    kind: JobKind,
}

impl Survey {
    fn new(kind: JobKind) -> Self {
        Self { kind }
    }
}

#[async_trait]
impl TableStep for Survey {
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
        let stats = cx.stats;
        let summary = format!(
            "{} data files, {} bytes, {} snapshots; no changes",
            stats.data_files, stats.data_bytes, stats.snapshots
        );
        Ok(StepOutcome::ok(summary, CompactionOutcome::default()))
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
}

async fn fixture(tables: &[(&str, &str, TableKind)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let storage =
        StorageConfig { dsn: format!("file://{}/wh", dir.path().display()), ..Default::default() };
    let schema = SchemaConfig {
        catalog_uri: format!("sqlite://{}/catalog.db", dir.path().display()),
        ..Default::default()
    };
    let catalog = Arc::new(CatalogHandle::new(schema, Warehouse::open(&storage).unwrap()));
    let connected = catalog.get().await.unwrap();
    for (tenant, dataset, signal) in tables {
        ensure_table(&connected, &TableId::new(tenant, dataset, *signal).unwrap()).await.unwrap();
    }
    Fixture { _dir: dir, catalog, metrics: Arc::new(Metrics::new()) }
}

fn pass(f: &Fixture) -> TablePass<Survey> {
    TablePass::new(
        Survey::new(JobKind::Compaction),
        Arc::clone(&f.catalog),
        Arc::clone(&f.metrics),
        PassSettings::new(2, 1024).components(&f.metrics, Arc::new(SystemClock)),
    )
}

#[tokio::test]
async fn runs_on_every_table_in_scope_sorted() {
    let f = fixture(&[
        ("acme", "prod", TableKind::Traces),
        ("acme", "prod", TableKind::Logs),
        ("acme", "dev", TableKind::Logs),
        ("other", "prod", TableKind::Logs),
    ])
    .await;
    let cancel = CancellationToken::new();
    let all = pass(&f).run(&Scope::default(), &cancel).await;
    assert!(all.succeeded(), "{all:?}");
    let names: Vec<String> =
        all.tables.iter().map(|t| format!("{}.{}.{}", t.tenant, t.dataset, t.table)).collect();
    assert_eq!(names, ["acme.dev.logs", "acme.prod.traces", "acme.prod.logs", "other.prod.logs"]);

    let scope = Scope {
        tenant: Some("acme".into()),
        signal: Some(common::Signal::Logs),
        ..Default::default()
    };
    let some = pass(&f).run(&scope, &cancel).await;
    assert_eq!(some.tables.len(), 2);
    assert!(some.tables.iter().all(|t| t.tenant == "acme" && t.table == TableKind::Logs));
}

#[tokio::test]
async fn one_broken_table_fails_alone_and_is_counted() {
    let f =
        fixture(&[("acme", "prod", TableKind::Traces), ("acme", "prod", TableKind::Logs)]).await;
    let catalog = f.catalog.get().await.unwrap();
    let broken = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let table = catalog.load_table(&broken.ident()).await.unwrap();
    let path = table.metadata_location().unwrap().strip_prefix("file://").unwrap().to_string();
    std::fs::write(&path, b"{ not metadata").unwrap();

    let report = pass(&f).run(&Scope::default(), &CancellationToken::new()).await;
    assert_eq!(report.failures(), 1);
    let failed = report.tables.iter().find(|t| t.error.is_some()).unwrap();
    assert_eq!((failed.table, failed.tenant.as_str()), (TableKind::Logs, "acme"));
    assert!(failed.error.as_ref().unwrap().contains("load table metadata"), "{failed:?}");
    let healthy = report.tables.iter().find(|t| t.table == TableKind::Traces).unwrap();
    assert!(healthy.error.is_none());
    let counted = f
        .metrics
        .tables
        .failures
        .with_label_values(&["acme", "prod", "logs", "compaction", "corrupt_input"])
        .get();
    assert_eq!(counted, 1);
}

#[tokio::test]
async fn an_unreachable_catalog_is_a_pass_error_and_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let storage =
        StorageConfig { dsn: format!("file://{}/wh", dir.path().display()), ..Default::default() };
    // A directory where the SQLite file should be: the connection fails.
    std::fs::create_dir_all(dir.path().join("catalog.db")).unwrap();
    let schema = SchemaConfig {
        catalog_uri: format!("sqlite://{}/catalog.db", dir.path().display()),
        ..Default::default()
    };
    let catalog = Arc::new(CatalogHandle::new(schema, Warehouse::open(&storage).unwrap()));
    let metrics = Arc::new(Metrics::new());
    let job = TablePass::new(
        Survey::new(JobKind::Retention),
        Arc::clone(&catalog),
        Arc::clone(&metrics),
        PassSettings::new(1, 1024).components(&metrics, Arc::new(SystemClock)),
    );
    let report = job.run(&Scope::default(), &CancellationToken::new()).await;
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(report.tables.is_empty());

    // Once the database can be created, the next pass connects.
    std::fs::remove_dir(dir.path().join("catalog.db")).unwrap();
    let report = job.run(&Scope::default(), &CancellationToken::new()).await;
    assert!(report.succeeded(), "{report:?}");
}

#[tokio::test]
async fn stats_come_from_the_current_snapshot_summary() {
    let f = fixture(&[("acme", "prod", TableKind::Metrics)]).await;
    let catalog = f.catalog.get().await.unwrap();
    let table = catalog
        .catalog()
        .load_table(&TableId::new("acme", "prod", TableKind::Metrics).unwrap().ident())
        .await
        .unwrap();
    // A new table has no snapshot yet.
    assert_eq!(TableStats::of(&table), TableStats::default());
}

/// A step that appends one small data file to each table: a job that changes what it works on.
struct Appender;

#[async_trait]
impl TableStep for Appender {
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
        JobKind::Compaction
    }

    async fn run_table(
        &self,
        (): &(),
        cx: TableContext<'_>,
    ) -> Result<StepOutcome<CompactionOutcome>, StepError> {
        use crate::test_support::{BASE_HOUR, batch, write};
        use iceberg::transaction::{ApplyTransactionAction, Transaction};
        let files = write(cx.table, BASE_HOUR, vec![batch(cx.table, BASE_HOUR, 10, 1)]).await;
        let tx = Transaction::new(cx.table);
        let tx = tx.fast_append().add_data_files(files).apply(tx).unwrap();
        tx.commit(cx.catalog.catalog()).await.unwrap();
        Ok(StepOutcome::ok("appended one file".into(), CompactionOutcome::default()))
    }
}

#[tokio::test]
async fn the_table_gauges_show_the_table_as_the_pass_left_it() {
    let f = fixture(&[("acme", "prod", TableKind::Logs)]).await;
    let settings = PassSettings::new(1, 1024 * 1024).components(&f.metrics, Arc::new(SystemClock));
    let job = TablePass::new(Appender, Arc::clone(&f.catalog), Arc::clone(&f.metrics), settings);
    let report = job.run(&Scope::default(), &CancellationToken::new()).await;
    assert!(report.succeeded(), "{report:?}");

    let labels = ["acme", "prod", "logs"];
    let t = &f.metrics.tables;
    let get = |family: &prometheus::IntGaugeVec| family.with_label_values(&labels).get();
    // Taken before the step, these would all still read the empty table.
    assert_eq!([get(&t.data_files), get(&t.small_files), get(&t.delete_files)], [1, 1, 0]);
    assert_eq!([get(&t.manifests), get(&t.snapshots)], [1, 1]);
    assert!(get(&t.data_bytes) > 0);
    let oldest = crate::test_support::BASE_HOUR * 3600;
    assert_eq!(get(&t.oldest_partition), oldest);
    assert!(get(&t.metadata_bytes) > 0);

    // A second pass: two files now, both small.
    job.run(&Scope::default(), &CancellationToken::new()).await;
    assert_eq!([get(&t.data_files), get(&t.small_files), get(&t.snapshots)], [2, 2, 2]);
}

/// A step that finishes the first table it is given and never the second: a pass that is
/// killed while working on its second table.
#[derive(Clone, Default)]
struct StallsOnSecond {
    first: Arc<std::sync::Mutex<Option<TableId>>>,
    stalled: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl TableStep for StallsOnSecond {
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
        JobKind::Compaction
    }

    async fn run_table(
        &self,
        (): &(),
        cx: TableContext<'_>,
    ) -> Result<StepOutcome<CompactionOutcome>, StepError> {
        let first = self.first.lock().unwrap().get_or_insert_with(|| cx.id.clone()).clone();
        if &first == cx.id {
            return Ok(StepOutcome::ok("done".into(), CompactionOutcome::default()));
        }
        self.stalled.notify_one();
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_pass_killed_after_its_first_table_has_recorded_that_table() {
    let f =
        fixture(&[("acme", "prod", TableKind::Logs), ("acme", "prod", TableKind::Traces)]).await;
    let step = StallsOnSecond::default();
    let settings = PassSettings::new(1, 1024).components(&f.metrics, Arc::new(SystemClock));
    let job =
        TablePass::new(step.clone(), Arc::clone(&f.catalog), Arc::clone(&f.metrics), settings);
    let pass =
        tokio::spawn(async move { job.run(&Scope::default(), &CancellationToken::new()).await });
    step.stalled.notified().await;
    // The pass is killed while its second table is in flight.
    pass.abort();
    assert!(pass.await.unwrap_err().is_cancelled());

    let first = step.first.lock().unwrap().clone().unwrap();
    let second = [TableKind::Logs, TableKind::Traces]
        .map(|kind| TableId::new("acme", "prod", kind).unwrap())
        .into_iter()
        .find(|id| *id != first)
        .unwrap();
    let catalog = f.catalog.get().await.unwrap();
    let history = crate::state::StateStore::open(&catalog).await.unwrap().runs();
    let recorded = history.runs(&first, JobKind::Compaction, 10).await.unwrap();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].outcome, crate::state::RunOutcome::Success);
    assert!(history.runs(&second, JobKind::Compaction, 10).await.unwrap().is_empty());
}

/// Every request of a compaction pass counts for the table whose run made it, on whichever
/// task: the tables' counts add up to the pass's, and to what the process counted meanwhile.
#[tokio::test]
async fn a_compaction_pass_counts_each_tables_requests_and_the_pass_their_sum() {
    use common::config::CompactorConfig;
    use common::storage::counted::{Operation, RequestCounts};
    use iceberg::transaction::{ApplyTransactionAction, Transaction};

    use crate::test_support::{BASE_HOUR, batch, write};

    let dir = tempfile::tempdir().unwrap();
    let storage =
        StorageConfig { dsn: format!("file://{}/wh", dir.path().display()), ..Default::default() };
    let schema = SchemaConfig {
        catalog_uri: format!("sqlite://{}/catalog.db", dir.path().display()),
        ..Default::default()
    };
    let metrics = Arc::new(Metrics::new());
    let observer = Arc::new(metrics.dependencies.clone());
    let warehouse = Warehouse::open_observed(&storage, Some(observer)).unwrap();
    let catalog = Arc::new(CatalogHandle::new(schema, warehouse));
    let connected = catalog.get().await.unwrap();
    for tenant in ["acme", "other"] {
        let id = TableId::new(tenant, "prod", TableKind::Logs).unwrap();
        ensure_table(&connected, &id).await.unwrap();
        // Six small files in one closed hour: one group to rewrite.
        for round in 0..6 {
            let table = connected.load_table(&id.ident()).await.unwrap();
            let files = write(&table, BASE_HOUR, vec![batch(&table, BASE_HOUR, 20, round)]).await;
            let tx = Transaction::new(&table);
            let tx = tx.fast_append().add_data_files(files).apply(tx).unwrap();
            tx.commit(connected.catalog()).await.unwrap();
        }
    }
    let counted = |op: Operation| {
        metrics.dependencies.storage_requests.with_label_values(&[op.as_str()]).get()
    };
    let before: Vec<u64> = Operation::ALL.iter().map(|op| counted(*op)).collect();

    let job = crate::assembly::compaction_job(
        &CompactorConfig::default(),
        Arc::clone(&catalog),
        Arc::clone(&metrics),
        Arc::new(SystemClock),
        PassSettings::new(2, 1024),
        Arc::new(crate::compaction::slots::RewriteSlots::new(2)),
    );
    let report = job.run(&Scope::default(), &CancellationToken::new()).await;
    assert!(report.succeeded(), "{}", report.render_text());
    assert_eq!(report.tables.len(), 2);
    for t in &report.tables {
        let changes = t.details.as_ref().unwrap().changes();
        assert_eq!((changes.files_removed, changes.files_added), (6, 1), "{}", t.summary);
        let r = t.requests;
        assert!(r.bytes_read > 0 && r.bytes_written > 0, "{r:?}");
        // The run's request budget: GET the metadata file, the manifest list, the 6 manifests
        // and the 6 data files; PUT the output, the manifests of removed and of added files
        // (stored together), the manifest list and the metadata file; then the state read
        // asks only for what the commit wrote and the run has not read (the new list and the
        // manifest of added files; the metadata file's size by HEAD). Neither the commit nor
        // the state read reads the metadata file again.
        assert_eq!((r.get, r.put, r.head, r.list, r.delete), (16, 5, 1, 0, 0), "{r:?}");
    }
    let sum: RequestCounts = report.tables.iter().map(|t| t.requests).sum();
    assert_eq!(report.requests, sum, "the pass made no request outside its tables");
    let during: Vec<u64> =
        Operation::ALL.iter().zip(&before).map(|(op, before)| counted(*op) - before).collect();
    let reported: Vec<u64> = Operation::ALL.iter().map(|op| sum.of(*op)).collect();
    assert_eq!(during, reported, "every request the process made was some table's");
    assert!(report.render_text().contains("\n  requests: "), "{}", report.render_text());
}
