//! The orphan-cleanup job's work on one table: plan (reference set, scan, candidates), then
//! either report the plan (dry run) or execute it (batched deletion with checkpoints).
//!
//! Before each pass the step reads the location of every table of the catalog (for the
//! shared-location check) and, unless a dry run, opens the checkpoint store: its
//! [`OrphanPass`], which every table of the pass is cleaned with.

use std::sync::Arc;

use async_trait::async_trait;
use common::catalog::SignalCatalog;
use common::clock::Clock;
use object_store::path::Path;
use tracing::{info, warn};

use super::candidates::{Candidate, Selector, age_label};
use super::delete::Batches;
use super::error::OrphanError;
use super::reference::ReferenceSet;
use super::report::{OrphanReport, Resumed};
use super::safety::{LocationIndex, ident_name};
use super::scan::scan;
use super::settings::OrphanSettings;
use crate::failure::{Classify, Failure};
use crate::job::{JobKind, Scope};
use crate::log_target;
use crate::state::{Checkpoint, Checkpoints, StateStore};
use crate::step::{StepError, StepOutcome, TableContext, TableStep};

/// What planning found: the reference set, the candidates in path order and the run's
/// checkpoint (new, or the one being resumed).
#[derive(Debug)]
pub struct Plan {
    /// Every file the metadata reached when planning.
    pub refs: ReferenceSet,
    /// The orphan candidates, sorted by object path.
    pub candidates: Vec<Candidate>,
    /// The run's identity and totals so far.
    pub checkpoint: Checkpoint,
}

/// Orphan cleanup of one table at a time.
#[derive(Debug)]
pub struct OrphanCleanupStep {
    settings: OrphanSettings,
    clock: Arc<dyn Clock>,
}

/// What one pass reads before its first table: every table's location, and the checkpoint
/// store unless the pass is a dry run.
#[derive(Debug)]
pub struct OrphanPass {
    index: LocationIndex,
    checkpoints: Option<Checkpoints>,
}

impl OrphanCleanupStep {
    /// A step applying `settings` at the time `clock` tells; [`OrphanCleanupStep::prepare`]
    /// readies a pass.
    pub fn new(settings: OrphanSettings, clock: Arc<dyn Clock>) -> Self {
        Self { settings, clock }
    }

    /// Readies a pass over `catalog`'s tables: reads every table's location once and, unless
    /// `dry_run`, opens the checkpoint store.
    pub async fn prepare(
        &self,
        catalog: &SignalCatalog,
        dry_run: bool,
    ) -> Result<OrphanPass, OrphanError> {
        let index = LocationIndex::load(catalog).await?;
        let checkpoints =
            if dry_run { None } else { Some(StateStore::open(catalog).await?.checkpoints()) };
        Ok(OrphanPass { index, checkpoints })
    }

    /// Builds the reference set, scans the table's location and selects the candidates,
    /// filling `report` as it goes.
    pub async fn plan(
        &self,
        pass: &OrphanPass,
        cx: &TableContext<'_>,
        report: &mut OrphanReport,
    ) -> Result<Plan, OrphanError> {
        let (id, md) = (cx.id, cx.table.metadata());
        report.dry_run = cx.scope.dry_run;
        report.table_location = md.location().to_string();
        let location = pass.index.check(&ident_name(&id.ident()), md.location())?;
        let now = self.clock.now();
        let resume = match (&pass.checkpoints, cx.scope.dry_run) {
            (Some(store), false) => self.resumable(store, cx, now).await?,
            _ => None,
        };

        let refs = ReferenceSet::of(cx.table, location.clone())
            .await
            .map_err(|e| OrphanError::metadata("read manifests for the reference set", e))?;
        let oldest_allowed = (now - self.settings.max_snapshot_age).timestamp_millis();
        report.snapshots = md.snapshots().len() as u64;
        report.snapshots_past_max_age =
            md.snapshots().filter(|s| s.timestamp_ms() < oldest_allowed).count() as u64;
        if report.snapshots_past_max_age > 0 {
            warn!(
                target: log_target::ORPHAN, table = %id,
                snapshots = report.snapshots_past_max_age,
                "Table keeps snapshots older than max_snapshot_age_hours; their files stay \
                 referenced until snapshot expiration removes them"
            );
        }
        report.metadata_location = refs.metadata_location().map(str::to_string);
        report.reference_set_size = refs.len() as u64;
        report.manifests_read = refs.manifests_read();
        report.unresolved_references = refs.unresolved().clone();
        if report.unresolved_references != Default::default() {
            warn!(
                target: log_target::ORPHAN, table = %id,
                examples = ?report.unresolved_references.examples,
                "References outside the table location or not normalisable: every listed file \
                 with one of their names is kept"
            );
        }

        let mut selector = Selector::new(&refs, &location, now - self.settings.grace_period);
        let after = resume.as_ref().map(|(_, path)| path);
        scan(cx.catalog.warehouse(), md.location(), after, &mut selector).await?;
        let (counts, candidates) = selector.finish();
        report.scan = counts;
        report.list_candidates(candidates.iter().map(|c| c.location.to_string()));

        let checkpoint = match resume {
            Some((previous, _)) => {
                report.resumed_from_checkpoint = Some(Resumed {
                    run_id: previous.run_id.clone(),
                    after_path: previous.last_path.clone(),
                    metadata_location: previous.metadata_location.clone(),
                    files_deleted_before: previous.files_deleted,
                    bytes_freed_before: previous.bytes_freed,
                });
                previous
            }
            None => Checkpoint {
                run_id: uuid::Uuid::new_v4().to_string(),
                metadata_location: report.metadata_location.clone().unwrap_or_default(),
                last_path: String::new(),
                files_deleted: 0,
                deletion_failures: 0,
                bytes_freed: 0,
                started_at: now,
                updated_at: now,
            },
        };
        Ok(Plan { refs, candidates, checkpoint })
    }

    /// The table's checkpoint if it is recent enough to resume, with its path.
    async fn resumable(
        &self,
        store: &Checkpoints,
        cx: &TableContext<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<(Checkpoint, Path)>, OrphanError> {
        let Some(previous) = store.load(&cx.id.ident()).await? else { return Ok(None) };
        let age = now - previous.updated_at;
        match Path::parse(&previous.last_path) {
            Ok(path)
                if age <= self.settings.checkpoint_max_age && !previous.last_path.is_empty() =>
            {
                info!(
                    target: log_target::ORPHAN, table = %cx.id, run_id = %previous.run_id,
                    after = %previous.last_path, "Resuming orphan cleanup from its checkpoint"
                );
                Ok(Some((previous, path)))
            }
            _ => {
                info!(
                    target: log_target::ORPHAN, table = %cx.id, run_id = %previous.run_id,
                    updated_at = %previous.updated_at,
                    "Ignoring a stale or unusable orphan cleanup checkpoint; starting over"
                );
                Ok(None)
            }
        }
    }

    /// Deletes the planned candidates and clears the checkpoint when the run completes.
    pub async fn execute(
        &self,
        pass: &OrphanPass,
        cx: &TableContext<'_>,
        plan: Plan,
        report: &mut OrphanReport,
    ) -> Result<(), OrphanError> {
        let Plan { mut refs, candidates, checkpoint } = plan;
        let Some(store) = &pass.checkpoints else {
            return Err(OrphanError::PreparedAsDryRun);
        };
        let batches = Batches {
            catalog: cx.catalog,
            id: cx.id,
            store: cx.catalog.warehouse().object_store(),
            checkpoints: store,
            batch_size: self.settings.batch_size,
            revalidate: self.settings.revalidate_before_delete,
            clock: self.clock.as_ref(),
            cancel: cx.cancel,
        };
        let (progress, error) = batches.run(&mut refs, &candidates, checkpoint).await;
        report.metadata_location = refs.metadata_location().map(str::to_string);
        let finished = !progress.stopped_early;
        report.deletion = progress;
        if let Some(e) = error {
            return Err(e);
        }
        if finished {
            store.clear(&cx.id.ident()).await?;
        }
        Ok(())
    }

    /// Plans, then logs the plan (dry run) or executes it.
    pub async fn clean(
        &self,
        pass: &OrphanPass,
        cx: &TableContext<'_>,
        report: &mut OrphanReport,
    ) -> Result<(), OrphanError> {
        let plan = self.plan(pass, cx, report).await?;
        let id = cx.id;
        let n = plan.candidates.len();
        let (tenant, dataset, table) = (&id.tenant, &id.dataset, id.table);
        if !cx.scope.dry_run {
            info!(target: log_target::ORPHAN, %tenant, %dataset, %table, "Identified {n} orphan files for tenant={tenant} dataset={dataset} table={table}");
            return self.execute(pass, cx, plan, report).await;
        }
        info!(target: log_target::ORPHAN, %tenant, %dataset, %table, "[DRY-RUN] Identified {n} orphan files for tenant={tenant} dataset={dataset} table={table}");
        let now = self.clock.now();
        for c in &plan.candidates {
            let age = age_label(now, c.last_modified);
            info!(target: log_target::ORPHAN, %tenant, %dataset, %table, size = c.size, "[DRY-RUN] Would delete: {} (age={age})", c.location);
        }
        Ok(())
    }
}

#[async_trait]
impl TableStep for OrphanCleanupStep {
    type Outcome = OrphanReport;
    type Pass = OrphanPass;

    fn kind(&self) -> JobKind {
        JobKind::OrphanCleanup
    }

    async fn begin_pass(
        &self,
        catalog: &SignalCatalog,
        scope: &Scope,
    ) -> Result<OrphanPass, Failure> {
        self.prepare(catalog, scope.dry_run)
            .await
            .map_err(|e| Failure::new(e.failure_kind(), format!("preparing orphan cleanup: {e}")))
    }

    async fn run_table(
        &self,
        pass: &OrphanPass,
        cx: TableContext<'_>,
    ) -> Result<StepOutcome<OrphanReport>, StepError> {
        let mut report = OrphanReport::default();
        let result = self.clean(pass, &cx, &mut report).await;
        Ok(match result {
            Ok(()) => StepOutcome::ok(report.summary(), report),
            Err(e) => StepOutcome {
                summary: format!("stopped: {e} ({})", report.summary()),
                details: report,
                error: Some(Failure::of(&e)),
            },
        })
    }
}
