//! The `[compactor.output]` section: what compaction's Parquet files carry for readers, and
//! when their row groups are copied rather than re-encoded.

use serde::{Deserialize, Serialize};

/// `[compactor.output]`: read aids written into compacted files, and the row-group copy path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Whether files of tables with a `trace_id` column get a Parquet bloom filter on it (1 %
    /// false positives, folded to the row group's distinct ids), so a trace-by-id lookup skips
    /// row groups min/max statistics cannot. Env `SIGNALDB_COMPACTOR_OUTPUT_TRACE_ID_BLOOM_FILTER`,
    /// default `true`.
    pub trace_id_bloom_filter: bool,
    /// Whether a group whose inputs are all made of large row groups, written with the output's
    /// schema and codec, is merged by copying their column chunks byte for byte instead of
    /// decoding and re-encoding every value. Env `SIGNALDB_COMPACTOR_OUTPUT_COPY_ROW_GROUPS`,
    /// default `true`.
    pub copy_row_groups: bool,
    /// Smallest row group (compressed bytes) the copy path copies; a group with a smaller one is
    /// rewritten. At least 1048576. Env `SIGNALDB_COMPACTOR_OUTPUT_COPY_MIN_ROW_GROUP_BYTES`,
    /// default `8388608` (8 MiB).
    pub copy_min_row_group_bytes: u64,
    /// Whether each column is written with the dictionary and zstd level that suit what it
    /// holds (no dictionary and level 1 for identifiers and numbers, level 6 for text) instead
    /// of Parquet's defaults; about 0.7x the bytes on traces, for up to 1.2x the compaction
    /// time. Env `SIGNALDB_COMPACTOR_OUTPUT_TUNED_ENCODINGS`, default `true`.
    pub tuned_encodings: bool,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            trace_id_bloom_filter: true,
            copy_row_groups: true,
            copy_min_row_group_bytes: 8 * 1024 * 1024,
            tuned_encodings: true,
        }
    }
}

impl OutputConfig {
    /// The smallest row group the copy path copies, `None` when copying is off.
    pub fn copy_min_row_group_bytes(&self) -> Option<u64> {
        self.copy_row_groups.then_some(self.copy_min_row_group_bytes)
    }
}
