//! What `compactor status` reports: plain data, serialised as `status --json`.

use chrono::{DateTime, Utc};
use common::TableKind;
use common::catalog::OtherTable;
use serde::Serialize;

use super::score::Health;
use crate::job::JobKind;
use crate::state::{Holder, RunRecord};
use crate::table_state::TableState;
use crate::warnings::Warning;

/// The status of every table in a scope.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// When it was read.
    pub generated_at: DateTime<Utc>,
    /// Warning signs of the configuration alone.
    pub config_warnings: Vec<Warning>,
    /// Every table in scope, sorted.
    pub tables: Vec<TableStatus>,
    /// Tables of tenants' namespaces in scope that are not signal tables: not maintained,
    /// never touched.
    pub not_maintained: Vec<OtherTable>,
    /// Failures not tied to one table (the catalog could not be listed).
    pub errors: Vec<String>,
}

impl StatusReport {
    /// Tables that are unhealthy or could not be read.
    pub fn unhealthy(&self) -> usize {
        self.tables.iter().filter(|t| !t.health.healthy).count()
    }
}

/// One table's status.
#[derive(Debug, Clone, Serialize)]
pub struct TableStatus {
    /// Tenant id.
    pub tenant: String,
    /// Dataset id.
    pub dataset: String,
    /// The table.
    pub table: TableKind,
    /// What its committed metadata says; absent when it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<TableState>,
    /// `target_file_size_bytes`, which the average file size is measured against.
    pub target_file_size_bytes: u64,
    /// The table's retention.
    pub retention: RetentionStatus,
    /// The last pass of each job.
    pub jobs: Vec<JobStatus>,
    /// The warning signs that fire.
    pub warnings: Vec<Warning>,
    /// The health score and its reasons.
    pub health: Health,
    /// The live lease on the table: which instance works on it now, for which job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<Holder>,
    /// Why the table (or its history) could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A table's retention as status sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionStatus {
    /// Whether the retention job is enabled.
    pub enabled: bool,
    /// Whether it runs in dry run.
    pub dry_run: bool,
    /// Days the table's data is kept.
    pub days: u32,
    /// Partitions entirely before this are past retention.
    pub cutoff: DateTime<Utc>,
    /// The oldest partition holding data, as `YYYY-MM-DD-HH`.
    pub oldest_hour: Option<String>,
    /// Data files past the cutoff.
    pub files_past_retention: u64,
    /// Their bytes.
    pub bytes_past_retention: u64,
}

/// The last pass of one job on a table.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// The job.
    pub job: JobKind,
    /// Whether its scheduler is enabled.
    pub enabled: bool,
    /// Its newest pass in the run history.
    pub last_run: Option<RunRecord>,
    /// Seconds since its newest successful pass.
    pub last_success_age_secs: Option<i64>,
}
