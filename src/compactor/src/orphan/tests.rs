//! Orphan cleanup of a real table (SQLite catalog, local warehouse) at times set by a
//! [`ManualClock`]: grace boundary, revalidation between planning and deleting, resuming from a
//! checkpoint, dry run.

use std::sync::Arc;

use chrono::Duration;
use common::TableKind;
use common::catalog::{SignalCatalog, ensure_table};
use common::clock::{Clock, ManualClock};
use common::partition::hour_partition;
use common::tables::TableId;
use iceberg::spec::{DataContentType, DataFile, DataFileBuilder, DataFileFormat};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use tokio_util::sync::CancellationToken;

use super::report::OrphanReport;
use super::*;
use crate::job::Scope;
use crate::metered::Metered;
use crate::metrics::{Metrics, table_labels};
use crate::state::{Checkpoint, StateStore};
use crate::step::{TableContext, TableStep};
use crate::test_support::TempCatalog;

const HOUR: i64 = 473_352;

struct Fixture {
    _dir: tempfile::TempDir,
    catalog: SignalCatalog,
    id: TableId,
    clock: Arc<ManualClock>,
    metrics: Arc<Metrics>,
}

impl Fixture {
    async fn new() -> Self {
        let TempCatalog { catalog, dir, .. } = TempCatalog::new().await;
        let id = TableId::new("acme", "prod", TableKind::Logs).unwrap();
        ensure_table(&catalog, &id).await.unwrap();
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        Self { _dir: dir, catalog, id, clock, metrics: Arc::new(Metrics::new()) }
    }

    async fn load(&self) -> Table {
        self.catalog.load_table(&self.id.ident()).await.unwrap()
    }

    /// Writes `name` under the table's data directory and returns its location.
    async fn put(&self, name: &str) -> String {
        let location = format!("{}/data/hour=x/{name}", self.load().await.metadata().location());
        let w = self.catalog.warehouse();
        let path = w.object_path(&location).unwrap();
        w.object_store().put(&path, PutPayload::from(name.as_bytes().to_vec())).await.unwrap();
        location
    }

    async fn exists(&self, location: &str) -> bool {
        let w = self.catalog.warehouse();
        w.object_store().head(&w.object_path(location).unwrap()).await.is_ok()
    }

    /// Commits the files at `locations` with one fast append.
    async fn append(&self, locations: &[String]) {
        let files: Vec<DataFile> = locations
            .iter()
            .map(|l| {
                DataFileBuilder::default()
                    .content(DataContentType::Data)
                    .file_path(l.clone())
                    .file_format(DataFileFormat::Parquet)
                    .partition(hour_partition(HOUR).unwrap())
                    .partition_spec_id(0)
                    .record_count(1)
                    .file_size_in_bytes(10)
                    .build()
                    .unwrap()
            })
            .collect();
        let table = self.load().await;
        let tx = Transaction::new(&table);
        let tx = tx.fast_append().add_data_files(files).apply(tx).unwrap();
        tx.commit(self.catalog.catalog()).await.unwrap();
    }

    fn settings(&self, batch_size: usize) -> OrphanSettings {
        OrphanSettings {
            grace_period: Duration::hours(24),
            batch_size,
            revalidate_before_delete: true,
            max_snapshot_age: Duration::hours(720),
            checkpoint_max_age: Duration::hours(24),
        }
    }

    /// The cleanup step, wrapped in its metrics as the assembly does, prepared for a pass.
    async fn step(&self, batch_size: usize, dry_run: bool) -> Metered<OrphanCleanupStep> {
        let clock: Arc<dyn Clock> = self.clock.clone();
        let _ = dry_run; // each cleanup begins its own pass
        let step = OrphanCleanupStep::new(self.settings(batch_size), clock);
        Metered::new(step, Arc::clone(&self.metrics))
    }

    /// One cleanup of the table by `step`.
    async fn clean(&self, step: &Metered<OrphanCleanupStep>, dry_run: bool) -> OrphanReport {
        let table = self.load().await;
        let (scope, cancel) = (Scope { dry_run, ..Default::default() }, CancellationToken::new());
        let cx = TableContext::new(&self.id, &table, &self.catalog, &scope, &cancel);
        let pass = step.begin_pass(&self.catalog, &scope).await.unwrap();
        let outcome = step.run_table(&pass, cx).await.unwrap();
        assert_eq!(outcome.error, None, "{}", outcome.summary);
        outcome.details
    }
}

#[tokio::test]
async fn orphans_go_only_after_the_grace_period_and_referenced_files_never() {
    let f = Fixture::new().await;
    let live = vec![f.put("live-1.parquet").await, f.put("live-2.parquet").await];
    f.append(&live).await;
    f.append(&[f.put("live-3.parquet").await]).await;
    let orphan = f.put("abandoned.parquet").await;

    // Just written: inside the grace period, kept.
    let report = f.clean(&f.step(1000, false).await, false).await;
    assert_eq!((report.scan.orphans, report.deletion.files_deleted), (0, 0), "{report:?}");
    assert_eq!((report.scan.skipped_by_grace, report.scan.referenced), (1, 10), "{report:?}");
    assert!(f.exists(&orphan).await);

    // A day and a second later every file is old; only the unreferenced one is a candidate.
    f.clock.advance(Duration::hours(24) + Duration::seconds(1));
    let dry = f.clean(&f.step(1000, true).await, true).await;
    assert!(dry.dry_run);
    assert_eq!(dry.candidates, std::slice::from_ref(&orphan));
    assert!(f.exists(&orphan).await, "a dry run deletes nothing");

    let report = f.clean(&f.step(1000, false).await, false).await;
    assert_eq!((report.scan.orphans, report.deletion.files_deleted), (1, 1), "{report:?}");
    assert_eq!(report.deletion.bytes_freed, "abandoned.parquet".len() as u64);
    assert_eq!(report.snapshots, 2);
    assert!(!f.exists(&orphan).await);
    for l in &live {
        assert!(f.exists(l).await, "{l}");
    }
    // Metadata files, manifest lists and manifests are referenced too.
    let md = f.load().await;
    assert!(f.exists(md.metadata_location().unwrap()).await);
    assert_eq!(report.scan.referenced, report.scan.scanned - 1, "{report:?}");
    let labels = table_labels(&f.id);
    assert_eq!(f.metrics.orphan.files_deleted.with_label_values(&labels).get(), 1);
    // Identified by the dry run and by the real run; deleted once.
    assert_eq!(f.metrics.orphan.orphans_identified.with_label_values(&labels).get(), 2);
}

#[tokio::test]
async fn a_candidate_committed_between_scan_and_delete_survives() {
    let f = Fixture::new().await;
    f.append(&[f.put("live.parquet").await]).await;
    let late = f.put("late-commit.parquet").await;
    let doomed = f.put("truly-orphan.parquet").await;
    f.clock.advance(Duration::hours(25));

    let step = f.step(1000, false).await;
    let table = f.load().await;
    let (scope, cancel) = (Scope::default(), CancellationToken::new());
    let cx = TableContext::new(&f.id, &table, &f.catalog, &scope, &cancel);
    let mut report = OrphanReport::default();
    let pass = step.begin_pass(&f.catalog, &scope).await.unwrap();
    let plan = step.inner().plan(&pass, &cx, &mut report).await.unwrap();
    assert_eq!(plan.candidates.len(), 2);
    // A writer commits one of the candidates before the batch runs.
    f.append(std::slice::from_ref(&late)).await;
    step.inner().execute(&pass, &cx, plan, &mut report).await.unwrap();
    assert_eq!(report.deletion.kept_by_revalidation, 1, "{report:?}");
    assert_eq!(report.deletion.files_deleted, 1, "{report:?}");
    assert!(f.exists(&late).await);
    assert!(!f.exists(&doomed).await);
    assert_ne!(report.metadata_location.as_deref(), table.metadata_location());
}

#[tokio::test]
async fn a_recent_checkpoint_is_resumed_after_its_last_path_and_cleared() {
    let f = Fixture::new().await;
    f.append(&[f.put("live.parquet").await]).await;
    let orphans = [f.put("o1.parquet").await, f.put("o2.parquet").await, f.put("o3.parquet").await];
    f.clock.advance(Duration::hours(25));

    // An earlier run got through o1 (and kept it, say after a failed delete) before dying.
    let store = StateStore::open(&f.catalog).await.unwrap().checkpoints();
    let w = f.catalog.warehouse();
    let last: Path = w.object_path(&orphans[0]).unwrap();
    let earlier = Checkpoint {
        run_id: "earlier".into(),
        metadata_location: "m".into(),
        last_path: last.to_string(),
        files_deleted: 7,
        deletion_failures: 0,
        bytes_freed: 70,
        started_at: f.clock.now() - Duration::minutes(10),
        updated_at: f.clock.now() - Duration::minutes(5),
    };
    store.save(&f.id.ident(), &earlier).await.unwrap();

    let report = f.clean(&f.step(1, false).await, false).await;
    let resumed = report.resumed_from_checkpoint.clone().expect("resumed");
    assert_eq!((resumed.run_id.as_str(), resumed.files_deleted_before), ("earlier", 7));
    assert_eq!(report.deletion.files_deleted, 2, "{report:?}");
    assert_eq!(report.deletion.batches, 2);
    assert!(f.exists(&orphans[0]).await, "paths up to the checkpoint are not revisited");
    assert!(!f.exists(&orphans[1]).await && !f.exists(&orphans[2]).await);
    assert_eq!(store.load(&f.id.ident()).await.unwrap(), None, "a finished run clears its row");

    // A stale checkpoint is ignored: the next run starts over and takes o1 too.
    let stale = Checkpoint { updated_at: f.clock.now() - Duration::hours(25), ..earlier };
    store.save(&f.id.ident(), &stale).await.unwrap();
    let report = f.clean(&f.step(1, false).await, false).await;
    assert!(report.resumed_from_checkpoint.is_none());
    assert_eq!(report.deletion.files_deleted, 1);
    assert!(!f.exists(&orphans[0]).await);
}
