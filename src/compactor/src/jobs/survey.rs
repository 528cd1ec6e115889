//! The table survey: the part of every job's pass that reads a table's state from its
//! metadata and reports it, changing nothing. Jobs that change tables build on it.

use async_trait::async_trait;
use serde_json::json;

use crate::job::JobKind;
use crate::tables::{StepError, StepOutcome, TableContext, TableStep};

/// Reports each table's live data files, bytes and snapshots (already exported as the
/// `compactor_table_*` gauges by the pass).
#[derive(Debug, Clone, Copy)]
pub struct Survey {
    kind: JobKind,
}

impl Survey {
    /// A survey run as part of `kind`'s pass.
    pub fn new(kind: JobKind) -> Self {
        Self { kind }
    }
}

#[async_trait]
impl TableStep for Survey {
    fn kind(&self) -> JobKind {
        self.kind
    }

    async fn run_table(&self, cx: TableContext<'_>) -> Result<StepOutcome, StepError> {
        let stats = cx.stats;
        let snapshot_id = cx.table.metadata().current_snapshot().map(|s| s.snapshot_id());
        Ok(StepOutcome::ok(
            format!(
                "{} data files, {} bytes, {} snapshots; no changes",
                stats.data_files, stats.data_bytes, stats.snapshots
            ),
            json!({ "stats": stats, "current_snapshot_id": snapshot_id }),
        ))
    }
}
