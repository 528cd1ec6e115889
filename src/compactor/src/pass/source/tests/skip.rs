//! The source's skip of unchanged idle tables, through real passes on a SQLite catalog with
//! the injected clock: what is loaded, what is counted, what the run history records.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use common::TableKind;
use common::catalog::{CatalogHandle, SignalCatalog, ensure_table};
use common::clock::ManualClock;
use common::config::{SchemaConfig, StorageConfig};
use common::storage::Warehouse;
use common::tables::TableId;
use tokio_util::sync::CancellationToken;

use super::super::*;
use crate::assembly::PassSettings;
use crate::compaction::{CompactionOutcome, ManifestsReport};
use crate::failure::Failure;
use crate::metrics::Metrics;
use crate::pass::{Job, TablePass};
use crate::report::JobReport;
use crate::state::RunOutcome;
use crate::step::{StepError, StepOutcome, TableContext, TableStep};

/// What the scripted step does on a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// Finds nothing to do.
    Idle,
    /// Finds work (a manifest merge it would do) and changes nothing.
    Busy,
    /// Fails.
    Fail,
}

/// A step whose outcome per table is set by the test; every table it is given is counted.
#[derive(Clone, Default)]
struct Scripted {
    acts: Arc<std::sync::Mutex<HashMap<TableId, Act>>>,
    loaded: Arc<std::sync::Mutex<Vec<TableId>>>,
}

impl Scripted {
    fn set(&self, id: &TableId, act: Act) {
        self.acts.lock().unwrap().insert(id.clone(), act);
    }

    /// The tables loaded since the last call, sorted.
    fn take_loaded(&self) -> Vec<TableId> {
        let mut loaded = std::mem::take(&mut *self.loaded.lock().unwrap());
        loaded.sort();
        loaded
    }
}

#[async_trait]
impl TableStep for Scripted {
    type Outcome = CompactionOutcome;
    type Pass = ();

    async fn begin_pass(&self, _: &SignalCatalog, _: &Scope) -> Result<(), Failure> {
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
        self.loaded.lock().unwrap().push(cx.id.clone());
        let act = self.acts.lock().unwrap().get(cx.id).copied().unwrap_or(Act::Idle);
        match act {
            Act::Idle => Ok(StepOutcome::ok("nothing to do".into(), CompactionOutcome::default())),
            Act::Busy => {
                let manifests = ManifestsReport { would_merge: Some(3), ..Default::default() };
                let outcome =
                    CompactionOutcome { manifests: Some(manifests), ..Default::default() };
                Ok(StepOutcome::ok("would merge".into(), outcome))
            }
            Act::Fail => Err(StepError::Unfit("scripted failure".into())),
        }
    }
}

const FULL_CHECK: std::time::Duration = std::time::Duration::from_secs(3600);

struct Fixture {
    _dir: tempfile::TempDir,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    clock: Arc<ManualClock>,
    step: Scripted,
    ids: Vec<TableId>,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = StorageConfig {
            dsn: format!("file://{}/wh", dir.path().display()),
            ..Default::default()
        };
        let schema = SchemaConfig {
            catalog_uri: format!("sqlite://{}/catalog.db", dir.path().display()),
            ..Default::default()
        };
        let catalog = Arc::new(CatalogHandle::new(schema, Warehouse::open(&storage).unwrap()));
        let connected = catalog.get().await.unwrap();
        let mut ids = Vec::new();
        for kind in [TableKind::Traces, TableKind::Logs, TableKind::Metrics] {
            let id = TableId::new("acme", "prod", kind).unwrap();
            ensure_table(&connected, &id).await.unwrap();
            ids.push(id);
        }
        ids.sort();
        let t0 = "2026-01-15T10:00:00Z".parse().unwrap();
        Self {
            _dir: dir,
            catalog,
            metrics: Arc::new(Metrics::new()),
            clock: Arc::new(ManualClock::new(t0)),
            step: Scripted::default(),
            ids,
        }
    }

    /// A pass of the scripted step skipping as `skip` says (settings "s1" unless changed).
    fn pass(&self, skip: Option<SkipUnchanged>) -> TablePass<Scripted> {
        let settings = PassSettings { idle: skip, ..PassSettings::new(2, 1024) };
        let clock: Arc<dyn common::clock::Clock> = self.clock.clone();
        let parts = settings.components(&self.metrics, clock);
        TablePass::new(
            self.step.clone(),
            Arc::clone(&self.catalog),
            Arc::clone(&self.metrics),
            parts,
        )
    }

    async fn run(&self, pass: &TablePass<Scripted>) -> JobReport {
        let report = pass.run(&Scope::default(), &CancellationToken::new()).await;
        assert!(report.errors.is_empty(), "{report:?}");
        report
    }

    /// Commits a small data file to `id` (a logs table): its metadata location changes.
    async fn append(&self, id: &TableId) {
        use crate::test_support::{BASE_HOUR, batch, write};
        use iceberg::transaction::{ApplyTransactionAction, Transaction};
        let catalog = self.catalog.get().await.unwrap();
        let table = catalog.load_table(&id.ident()).await.unwrap();
        let files = write(&table, BASE_HOUR, vec![batch(&table, BASE_HOUR, 10, 1)]).await;
        let tx = Transaction::new(&table);
        let tx = tx.fast_append().add_data_files(files).apply(tx).unwrap();
        tx.commit(catalog.catalog()).await.unwrap();
    }

    /// The run-history rows of the scripted job on `id`.
    async fn history(&self, id: &TableId) -> Vec<crate::state::RunRecord> {
        let catalog = self.catalog.get().await.unwrap();
        let store = crate::state::StateStore::open(&catalog).await.unwrap();
        store.runs().runs(id, JobKind::Compaction, 100).await.unwrap()
    }
}

fn skip() -> SkipUnchanged {
    SkipUnchanged { full_check: FULL_CHECK, settings: "s1".into(), load_unread: false }
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

#[tokio::test]
async fn an_unchanged_idle_table_is_counted_not_loaded_until_the_full_check() {
    let f = Fixture::new().await;
    let pass = f.pass(Some(skip()));
    let first = f.run(&pass).await;
    assert_eq!((first.tables.len(), first.unchanged), (3, 0));
    assert_eq!(f.step.take_loaded(), f.ids);

    // Pointers unchanged: nothing is loaded, every table counted.
    f.clock.advance(minutes(5));
    let second = f.run(&pass).await;
    assert_eq!((second.tables.len(), second.unchanged), (0, 3), "{second:?}");
    assert!(f.step.take_loaded().is_empty());
    assert!(second.render_text().contains("3 unchanged and idle (not loaded)"));

    // A fresh source (another process, a one-shot command) reads the same marks.
    let other = f.pass(Some(skip()));
    assert_eq!(f.run(&other).await.unchanged, 3);

    // Just before the full check (less its twentieth) still skipped; at it, all loaded.
    f.clock.advance(minutes(51));
    assert_eq!(f.run(&pass).await.unchanged, 3);
    f.clock.advance(minutes(1));
    let full = f.run(&pass).await;
    assert_eq!((full.tables.len(), full.unchanged), (3, 0));
    assert_eq!(f.step.take_loaded(), f.ids);
    // The full check restarted the interval.
    f.clock.advance(minutes(5));
    assert_eq!(f.run(&pass).await.unchanged, 3);
    // A dry run reports on every table.
    let dry = Scope { dry_run: true, ..Scope::default() };
    let report = pass.run(&dry, &CancellationToken::new()).await;
    assert_eq!((report.tables.len(), report.unchanged), (3, 0));
}

#[tokio::test]
async fn a_changed_table_is_loaded_and_the_others_are_not() {
    let f = Fixture::new().await;
    let pass = f.pass(Some(skip()));
    f.run(&pass).await;
    f.step.take_loaded();
    let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    f.append(&logs).await;

    let report = f.run(&pass).await;
    assert_eq!((report.tables.len(), report.unchanged), (1, 2));
    assert_eq!(f.step.take_loaded(), [logs]);
    // Found idle again at its new location: skipped from now on.
    assert_eq!(f.run(&pass).await.unchanged, 3);
}

#[tokio::test]
async fn a_failed_or_busy_run_is_loaded_next_time() {
    let f = Fixture::new().await;
    let pass = f.pass(Some(skip()));
    f.run(&pass).await;
    f.step.take_loaded();
    // Fails at the full check: its mark is cleared, so every later pass loads it.
    f.clock.advance(minutes(60));
    f.step.set(&f.ids[0], Act::Fail);
    f.step.set(&f.ids[2], Act::Busy);
    let failed = f.run(&pass).await;
    assert_eq!(failed.failures(), 1);
    f.step.take_loaded();
    f.clock.advance(minutes(1));
    let next = f.run(&pass).await;
    assert_eq!(next.unchanged, 1);
    assert_eq!(f.step.take_loaded(), [f.ids[0].clone(), f.ids[2].clone()]);
    // Recovered and idle: skipped again.
    f.step.set(&f.ids[0], Act::Idle);
    f.step.set(&f.ids[2], Act::Idle);
    f.run(&pass).await;
    assert_eq!(f.run(&pass).await.unchanged, 3);
}

#[tokio::test]
async fn other_settings_no_skip_and_a_daemons_first_pass_load_every_table() {
    let f = Fixture::new().await;
    f.run(&f.pass(Some(skip()))).await;
    f.step.take_loaded();
    let changed = SkipUnchanged { settings: "s2".into(), ..skip() };
    assert_eq!(f.run(&f.pass(Some(changed))).await.unchanged, 0);
    assert_eq!(f.run(&f.pass(None)).await.unchanged, 0);
    // The marks are now under "s2"; "s1" loads everything once more.
    f.run(&f.pass(Some(skip()))).await;
    f.step.take_loaded();

    let daemon = f.pass(Some(SkipUnchanged { load_unread: true, ..skip() }));
    let first = f.run(&daemon).await;
    assert_eq!((first.tables.len(), first.unchanged), (3, 0));
    assert_eq!(f.run(&daemon).await.unchanged, 3);
}

#[tokio::test]
async fn idle_runs_are_recorded_once_per_interval_failures_and_changes_always() {
    let f = Fixture::new().await;
    let pass = f.pass(Some(skip()));
    let id = &TableId::new("acme", "prod", TableKind::Logs).unwrap();
    f.run(&pass).await;
    assert_eq!(f.history(id).await.len(), 1);
    // Loaded again (its pointer changed) and idle within the interval: no new row.
    f.clock.advance(minutes(10));
    f.append(id).await;
    f.run(&pass).await;
    assert_eq!(f.history(id).await.len(), 1);
    // A failure is recorded, and so is the success after it.
    f.append(id).await;
    f.step.set(id, Act::Fail);
    f.clock.advance(minutes(1));
    f.run(&pass).await;
    f.step.set(id, Act::Idle);
    f.clock.advance(minutes(1));
    f.run(&pass).await;
    let rows = f.history(id).await;
    let outcomes: Vec<RunOutcome> = rows.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [RunOutcome::Success, RunOutcome::Failure, RunOutcome::Success]);
    // The full check an interval after the last row records one more.
    f.clock.advance(minutes(60));
    f.run(&pass).await;
    assert_eq!(f.history(id).await.len(), 4);
    // Skipped tables write no row.
    f.clock.advance(minutes(1));
    assert_eq!(f.run(&pass).await.unchanged, 3);
    assert_eq!(f.history(id).await.len(), 4);
}
