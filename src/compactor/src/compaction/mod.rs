//! Compaction: merge the small Parquet files of quiet `hour` partitions into target-size files.
//!
//! A pass over a table reads its live files from the manifests, [`plan`]s the rewrite groups and
//! reports them. The step is the compaction job's [`TableStep`].

pub mod plan;
pub mod report;

use std::sync::Arc;

use async_trait::async_trait;
use common::clock::Clock;
use tracing::info;

pub use plan::{PlanSettings, TablePlan};

use crate::job::JobKind;
use crate::manifests::live_files;
use crate::tables::{StepError, StepOutcome, TableContext, TableStep};

/// The compaction job's work on one table.
#[derive(Debug, Clone)]
pub struct CompactionStep {
    settings: PlanSettings,
    clock: Arc<dyn Clock>,
}

impl CompactionStep {
    /// A step planning with `settings`, at the time `clock` tells.
    pub fn new(settings: PlanSettings, clock: Arc<dyn Clock>) -> Self {
        Self { settings, clock }
    }

    /// Plans the compaction of the table in `cx`.
    pub async fn plan(&self, cx: &TableContext<'_>) -> Result<TablePlan, StepError> {
        let files = live_files(cx.table).await.map_err(|e| StepError::Iceberg {
            action: "read manifests".into(),
            source: Box::new(e),
        })?;
        let default_spec = cx.table.metadata().default_partition_spec_id();
        Ok(plan::plan(&files, default_spec, &self.settings, self.clock.now()))
    }
}

#[async_trait]
impl TableStep for CompactionStep {
    fn kind(&self) -> JobKind {
        JobKind::Compaction
    }

    async fn run_table(&self, cx: TableContext<'_>) -> Result<StepOutcome, StepError> {
        let plan = self.plan(&cx).await?;
        let id = cx.id;
        for c in &plan.candidates {
            info!(
                target: "compactor",
                tenant = %id.tenant, dataset = %id.dataset, table = %id.signal, hour = %c.hour_label,
                files_before = c.files_before, files_after = c.files_after, bytes = c.bytes,
                "{}Compaction candidate", if cx.scope.dry_run { "[DRY-RUN] " } else { "" }
            );
        }
        let verb = if cx.scope.dry_run { "would compact" } else { "planned" };
        let mut summary = format!(
            "{verb} {} of {} partitions: {} -> {} files ({} bytes)",
            plan.candidates.len(),
            plan.partitions,
            plan.files_before,
            plan.files_after,
            plan.bytes_to_rewrite
        );
        if !cx.scope.dry_run && !plan.candidates.is_empty() {
            summary.push_str("; not executed: this build plans compaction only");
        }
        let details = serde_json::to_value(&plan).unwrap_or_default();
        Ok(StepOutcome { summary, details })
    }
}
