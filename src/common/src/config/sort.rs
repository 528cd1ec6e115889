//! The `[compactor.sort]` section: the order compaction writes rows in, and its memory.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::signal::Signal;
use crate::tables::default_sort_columns;

/// Name of the directory under the system temp dir that holds spill files by default.
pub const DEFAULT_SPILL_DIR_NAME: &str = "signaldb-compactor-sort";

/// `[compactor.sort]`: compaction writes each group's rows sorted by these columns, so that a
/// lookup by the leading column touches few files and row groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SortConfig {
    /// Whether compaction sorts its output. Env `SIGNALDB_COMPACTOR_SORT_ENABLED`,
    /// default `true`.
    pub enabled: bool,
    /// Sort columns of traces tables (ascending, nulls first); `[]` leaves them unsorted.
    /// Env `SIGNALDB_COMPACTOR_SORT_TRACES` (`trace_id,timestamp`), default
    /// `["trace_id", "timestamp"]`.
    pub traces: Vec<String>,
    /// Sort columns of logs tables. Env `SIGNALDB_COMPACTOR_SORT_LOGS`, default
    /// `["service_name", "severity_number", "timestamp"]`.
    pub logs: Vec<String>,
    /// Sort columns of metrics tables. Env `SIGNALDB_COMPACTOR_SORT_METRICS`, default
    /// `["metric_name", "service_name", "timestamp"]`.
    pub metrics: Vec<String>,
    /// Sort columns of profiles tables. Env `SIGNALDB_COMPACTOR_SORT_PROFILES`, default
    /// `["service_name", "timestamp"]`.
    pub profiles: Vec<String>,
    /// Bytes of rows one group's sort holds in memory before it spills a sorted run to
    /// `spill_dir`; at least 65536. Env `SIGNALDB_COMPACTOR_SORT_MEMORY_BUDGET_BYTES`,
    /// default `67108864` (64 MiB).
    pub memory_budget_bytes: u64,
    /// Directory for spilled sorted runs (created when needed; files are removed when a sort
    /// ends). Env `SIGNALDB_COMPACTOR_SORT_SPILL_DIR`, default unset: the system temp dir's
    /// `signaldb-compactor-sort`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spill_dir: Option<String>,
}

impl Default for SortConfig {
    fn default() -> Self {
        let columns = |signal| default_sort_columns(signal).iter().map(|c| c.to_string()).collect();
        SortConfig {
            enabled: true,
            traces: columns(Signal::Traces),
            logs: columns(Signal::Logs),
            metrics: columns(Signal::Metrics),
            profiles: columns(Signal::Profiles),
            memory_budget_bytes: 64 * 1024 * 1024,
            spill_dir: None,
        }
    }
}

impl SortConfig {
    /// The configured sort columns of `signal`'s tables.
    pub fn columns(&self, signal: Signal) -> &[String] {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Logs => &self.logs,
            Signal::Metrics => &self.metrics,
            Signal::Profiles => &self.profiles,
        }
    }

    /// The directory spill files go to: `spill_dir`, else the system temp dir's
    /// [`DEFAULT_SPILL_DIR_NAME`].
    pub fn spill_dir(&self) -> PathBuf {
        match &self.spill_dir {
            Some(dir) => PathBuf::from(dir),
            None => std::env::temp_dir().join(DEFAULT_SPILL_DIR_NAME),
        }
    }
}
