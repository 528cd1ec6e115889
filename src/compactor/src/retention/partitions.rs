//! Which time partitions of a table's current snapshot are expired.
//!
//! A partition is expired when its whole hour or day ends at or before the cutoff; all its
//! files go, data and delete files alike. Each file is read by its own spec's time field, so
//! files of an older spec expire too. Files whose partition cannot be read as an hour or a day
//! (a spec without a time field, no value) are never dropped.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use common::partition::TimePartition;
use iceberg::spec::DataContentType;
use serde::{Deserialize, Serialize};

use crate::live_files::LiveFile;

/// Whether `partition` ends at or before `cutoff`.
pub(crate) fn is_expired(partition: TimePartition, cutoff: DateTime<Utc>) -> bool {
    DateTime::from_timestamp(partition.end_secs(), 0).is_some_and(|end| end <= cutoff)
}

/// One time partition of the current snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// The partition (grain and value).
    pub partition: TimePartition,
    /// Its first hour since the epoch.
    pub hour: i64,
    /// `YYYY-MM-DD-HH` for an hour, `YYYY-MM-DD` for a day (UTC).
    pub hour_label: String,
    /// Live data files.
    pub data_files: u64,
    /// Live delete files.
    pub delete_files: u64,
    /// Rows of its data files.
    pub rows: u64,
    /// Bytes of all its files.
    pub bytes: u64,
    /// Locations of its files (data and delete).
    #[serde(skip)]
    pub paths: Vec<String>,
}

/// Why files were left out of the evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The files' partition is not an hour or a day this code can interpret.
    Uninterpretable,
}

impl SkipReason {
    /// The reason's name, as reports and `--json` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uninterpretable => "uninterpretable",
        }
    }
}

/// Files left out of the evaluation, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Why.
    pub reason: SkipReason,
    /// The partition, when it could be read.
    pub hour_label: Option<String>,
    /// The partition spec ids of the files.
    pub spec_ids: Vec<i32>,
    /// How many files.
    pub files: u64,
}

/// Every partition of the current snapshot sorted by the cutoff.
#[derive(Debug, Clone, Default)]
pub(crate) struct Evaluation {
    /// Every interpretable partition, oldest first.
    pub partitions: Vec<Partition>,
    /// The expired partitions that can be dropped, oldest first.
    pub expired: Vec<Partition>,
    /// Files and partitions left alone.
    pub skipped: Vec<Skipped>,
}

impl Evaluation {
    /// Paths of every file (data and delete) of the expired partitions.
    pub(crate) fn paths_to_drop(&self) -> Vec<String> {
        self.expired.iter().flat_map(|p| p.paths.iter().cloned()).collect()
    }
}

/// Groups `files` (the live files of the current snapshot) by time partition and decides which
/// partitions are expired at `cutoff`.
pub(crate) fn evaluate(files: &[LiveFile], cutoff: DateTime<Utc>) -> Evaluation {
    let mut by_partition: BTreeMap<(i64, TimePartition), Partition> = BTreeMap::new();
    let mut uninterpretable: BTreeMap<i32, u64> = BTreeMap::new();
    for file in files {
        let Some(partition) = file.partition else {
            *uninterpretable.entry(file.spec_id).or_default() += 1;
            continue;
        };
        let key = (partition.start_hour(), partition);
        let p = by_partition.entry(key).or_insert_with(|| Partition {
            partition,
            hour: partition.start_hour(),
            hour_label: partition.label(),
            data_files: 0,
            delete_files: 0,
            rows: 0,
            bytes: 0,
            paths: Vec::new(),
        });
        p.bytes += file.size;
        p.paths.push(file.path.clone());
        if file.content == DataContentType::Data {
            p.data_files += 1;
            p.rows += file.records;
        } else {
            p.delete_files += 1;
        }
    }
    let mut out = Evaluation::default();
    if !uninterpretable.is_empty() {
        out.skipped.push(Skipped {
            reason: SkipReason::Uninterpretable,
            hour_label: None,
            spec_ids: uninterpretable.keys().copied().collect(),
            files: uninterpretable.values().sum(),
        });
    }
    for p in by_partition.into_values() {
        if is_expired(p.partition, cutoff) {
            out.expired.push(p.clone());
        }
        out.partitions.push(p);
    }
    out
}
