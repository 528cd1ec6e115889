//! Compaction planning: from a table's live files, decide which time partitions are worth
//! compacting and how their small files group into target-size outputs. Pure data in, plan
//! out: planning reads nothing and changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::config::CompactorConfig;
use common::partition::{Grain, TimePartition};
use iceberg::spec::DataContentType;
use serde::{Deserialize, Serialize};

use super::order::OutputOrder;
use crate::live_files::LiveFile;

/// The knobs planning uses, from `[compactor]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanSettings {
    /// Size compacted files are packed up to.
    pub target_file_size_bytes: u64,
    /// Files below this size are compaction inputs.
    pub small_file_threshold_bytes: u64,
    /// A partition needs at least this many small files to be a candidate.
    pub min_input_files: usize,
    /// Partitions that ended less than this long ago are left to writers.
    pub quiet_period: Duration,
    /// Smallest average row group (bytes) of inputs merged by copying row groups; `None`
    /// turns the copy path off (`[compactor.output]`).
    pub copy_min_row_group_bytes: Option<u64>,
}

impl From<&CompactorConfig> for PlanSettings {
    fn from(c: &CompactorConfig) -> Self {
        Self {
            target_file_size_bytes: c.target_file_size_bytes,
            small_file_threshold_bytes: c.small_file_threshold_bytes,
            min_input_files: c.min_input_files,
            quiet_period: c.quiet_period(),
            copy_min_row_group_bytes: c.output.copy_min_row_group_bytes(),
        }
    }
}

/// Small files of one partition that are rewritten together into about one target-size file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileGroup {
    /// Locations of the input files.
    pub files: Vec<String>,
    /// Their total size.
    pub bytes: u64,
    /// Their total row count.
    pub rows: u64,
    /// Files the rewrite is expected to produce.
    pub expected_output_files: usize,
}

/// How a partition's groups are written. Sorted and copied output are never mixed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Rows decoded and re-encoded in input order.
    #[default]
    Rewrite,
    /// Rows decoded, sorted by the plan's order across the partition's new files, re-encoded.
    Sort,
    /// Row groups copied byte for byte: every input is made of large row groups (and, when
    /// the output is ordered, already records that order), so decoding would gain nothing.
    Copy,
}

impl Method {
    /// The method's name, as reports and `--json` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rewrite => "rewrite",
            Self::Sort => "sort",
            Self::Copy => "copy",
        }
    }
}

/// A partition that will be compacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionPlan {
    /// The time partition (grain and value).
    pub partition: TimePartition,
    /// The partition's first hour since the epoch.
    pub hour: i64,
    /// The partition's label: `YYYY-MM-DD-HH` for an hour, `YYYY-MM-DD` for a day (UTC).
    pub hour_label: String,
    /// Partition spec of the files written (the table's default).
    pub spec_id: i32,
    /// Inputs written under an older partition spec, rewritten into the default one whatever
    /// their size.
    #[serde(default)]
    pub other_spec_files: usize,
    /// Live data files in the partition before compaction.
    pub files_before: usize,
    /// Expected live data files after compaction.
    pub files_after: usize,
    /// Bytes of all live data files in the partition.
    pub bytes: u64,
    /// Rows of all live data files in the partition.
    pub rows: u64,
    /// Files below the small-file threshold.
    pub small_files: usize,
    /// How the groups are written.
    #[serde(default)]
    pub method: Method,
    /// The rewrite groups.
    pub groups: Vec<FileGroup>,
}

/// Why a partition is not compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// It ended within the quiet period: writers may still be adding to it.
    ActiveHour,
    /// Fewer small files than `min_input_files`.
    TooFewSmallFiles,
    /// It has delete files, which a rewrite would have to apply.
    HasDeleteFiles,
    /// Its files use an older partition spec whose partition the default spec's cannot hold
    /// (a day of files for an hour-partitioned table): they would have to be split.
    OtherPartitionSpec,
    /// Its partition is not a time partition (hour or day) this code can interpret.
    UninterpretablePartition,
}

impl SkipReason {
    /// The reason's name, as reports and `--json` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ActiveHour => "active_hour",
            Self::TooFewSmallFiles => "too_few_small_files",
            Self::HasDeleteFiles => "has_delete_files",
            Self::OtherPartitionSpec => "other_partition_spec",
            Self::UninterpretablePartition => "uninterpretable_partition",
        }
    }
}

/// A partition left alone, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedPartition {
    /// The partition's label, when it could be read.
    pub hour_label: Option<String>,
    /// Partition spec of the files.
    pub spec_id: i32,
    /// Why it is skipped.
    pub reason: SkipReason,
    /// Live data files in it.
    pub files: usize,
    /// Of which small.
    pub small_files: usize,
}

/// The compaction plan of one table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TablePlan {
    /// Partitions with live data files.
    pub partitions: usize,
    /// Partitions to compact, oldest first.
    pub candidates: Vec<PartitionPlan>,
    /// Partitions left alone, with the reason.
    pub skipped: Vec<SkippedPartition>,
    /// Live data files of the candidate partitions before compaction.
    pub files_before: usize,
    /// Expected live data files of the candidate partitions after compaction.
    pub files_after: usize,
    /// Bytes the rewrite reads.
    pub bytes_to_rewrite: u64,
    /// Rows the rewrite reads (and must write back).
    pub rows_to_rewrite: u64,
    /// The order the rewritten rows are written in; `null` when unsorted.
    pub sort: Option<OutputOrder>,
    /// Why the table cannot be maintained (no time partition in its current spec), when so:
    /// its partitions are all skipped as uninterpretable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_maintainable: Option<String>,
}

impl TablePlan {
    /// How many fewer data files the table is expected to have.
    pub fn file_reduction(&self) -> usize {
        self.files_before.saturating_sub(self.files_after)
    }

    /// Skipped partitions counted by reason.
    pub fn skipped_by_reason(&self) -> BTreeMap<SkipReason, usize> {
        let mut counts = BTreeMap::new();
        for s in &self.skipped {
            *counts.entry(s.reason).or_insert(0) += 1;
        }
        counts
    }
}

/// The partition spec compacted files are written in: the table's default spec, and the grain
/// of its time field (`None` when it has none the compactor understands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSpec {
    /// The spec's id.
    pub spec_id: i32,
    /// Hour or day.
    pub grain: Option<Grain>,
}

/// Plans the compaction of a table whose live files are `files` and whose default partition
/// spec is `default_spec_id` (its grain that of its files), at time `now`, unsorted.
pub fn plan(
    files: &[LiveFile],
    default_spec_id: i32,
    settings: &PlanSettings,
    now: DateTime<Utc>,
) -> TablePlan {
    let grain = files
        .iter()
        .find(|f| f.spec_id == default_spec_id)
        .and_then(|f| f.partition)
        .map(|p| p.grain);
    plan_ordered(files, OutputSpec { spec_id: default_spec_id, grain }, settings, now, None)
}

/// Where a live file is planned: into a partition of the output spec, or left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// This partition of the output spec: the file's own, or for a file of an older spec with
    /// an equal or finer time partition, the one holding it (an hour's file into its day).
    Into(TimePartition),
    /// Left in its spec and partition (if it has one that can be read).
    Left(i32, Option<TimePartition>),
}

impl Target {
    fn of(file: &LiveFile, output: OutputSpec) -> Self {
        match file.partition {
            Some(p) if file.spec_id == output.spec_id => Target::Into(p),
            Some(p) => match output.grain.and_then(|g| p.within(g)) {
                Some(into) => Target::Into(into),
                None => Target::Left(file.spec_id, Some(p)),
            },
            None => Target::Left(file.spec_id, None),
        }
    }
}

/// [`plan`] with output in `order`, when set.
///
/// Files of an older spec are rewritten into the output spec (Spark's `output-spec-id`) with
/// the partition that holds them, whatever their size; a file whose partition no output
/// partition holds is left alone.
///
/// Each partition gets a [`Method`]: `copy` when its small files qualify for the copy path
/// (and none is of an older spec), else `sort` when ordered (one group of every small file, rolled into as many target-size
/// files as it fills, so that the sorted rows span the partition's new files, each with a
/// narrow key range), else `rewrite`. Copied and rewritten groups are bin-packed: first-fit
/// decreasing into groups of about one target-size file each.
pub fn plan_ordered(
    files: &[LiveFile],
    output: OutputSpec,
    settings: &PlanSettings,
    now: DateTime<Utc>,
    order: Option<&OutputOrder>,
) -> TablePlan {
    let deletes = delete_partitions(files);
    let mut partitions: BTreeMap<Target, Vec<&LiveFile>> = BTreeMap::new();
    for f in files {
        partitions.entry(Target::of(f, output)).or_default().push(f);
    }
    let quiet_secs = i64::try_from(settings.quiet_period.as_secs()).unwrap_or(i64::MAX);
    let mut out = TablePlan::default();
    for (target, files) in partitions {
        let (spec_id, partition) = match target {
            Target::Into(p) => (output.spec_id, Some(p)),
            Target::Left(spec_id, p) => (spec_id, p),
        };
        let data: Vec<&LiveFile> =
            files.into_iter().filter(|f| f.content == DataContentType::Data).collect();
        if data.is_empty() {
            continue;
        }
        out.partitions += 1;
        // Inputs: small files of the output spec, and every file of an older one.
        let other_spec = |f: &LiveFile| f.spec_id != output.spec_id;
        let small: Vec<&LiveFile> = data
            .iter()
            .copied()
            .filter(|f| other_spec(f) || f.size < settings.small_file_threshold_bytes)
            .collect();
        let other_spec_files = small.iter().filter(|f| other_spec(f)).count();
        let skip = |reason| SkippedPartition {
            hour_label: partition.map(TimePartition::label),
            spec_id,
            reason,
            files: data.len(),
            small_files: small.len(),
        };
        let Some(partition) = partition else {
            out.skipped.push(skip(SkipReason::UninterpretablePartition));
            continue;
        };
        let reason = if matches!(target, Target::Left(..)) {
            Some(SkipReason::OtherPartitionSpec)
        } else if partition.end_secs().saturating_add(quiet_secs) > now.timestamp() {
            Some(SkipReason::ActiveHour)
        } else if touched_by_deletes(&deletes, partition) {
            Some(SkipReason::HasDeleteFiles)
        } else if other_spec_files == 0 && small.len() < settings.min_input_files {
            Some(SkipReason::TooFewSmallFiles)
        } else {
            None
        };
        if let Some(reason) = reason {
            out.skipped.push(skip(reason));
            continue;
        }
        let small_files = small.len();
        let copy_min = settings.copy_min_row_group_bytes.filter(|_| other_spec_files == 0);
        let method = method(&small, copy_min, order);
        let target_size = settings.target_file_size_bytes;
        let groups = match method {
            Method::Sort => one_group(small, target_size, output.spec_id),
            Method::Rewrite | Method::Copy => bin_pack(small, target_size, output.spec_id),
        };
        if groups.is_empty() {
            out.skipped.push(SkippedPartition {
                hour_label: Some(partition.label()),
                spec_id,
                reason: SkipReason::TooFewSmallFiles,
                files: data.len(),
                small_files,
            });
            continue;
        }
        let grouped: usize = groups.iter().map(|g| g.files.len()).sum();
        let outputs: usize = groups.iter().map(|g| g.expected_output_files).sum();
        let candidate = PartitionPlan {
            partition,
            hour: partition.start_hour(),
            hour_label: partition.label(),
            spec_id,
            other_spec_files,
            files_before: data.len(),
            files_after: data.len() - grouped + outputs,
            bytes: data.iter().map(|f| f.size).sum(),
            rows: data.iter().map(|f| f.records).sum(),
            small_files,
            method,
            groups,
        };
        out.files_before += candidate.files_before;
        out.files_after += candidate.files_after;
        out.bytes_to_rewrite += candidate.groups.iter().map(|g| g.bytes).sum::<u64>();
        out.rows_to_rewrite += candidate.groups.iter().map(|g| g.rows).sum::<u64>();
        out.candidates.push(candidate);
    }
    out
}

/// The time partitions of the live delete files among `files` (`None`: one that cannot be read).
pub(super) fn delete_partitions(files: &[LiveFile]) -> Vec<Option<TimePartition>> {
    files.iter().filter(|f| f.content != DataContentType::Data).map(|f| f.partition).collect()
}

/// Whether a delete file of `deletes` ([`delete_partitions`]) may apply to rows of
/// `partition`: one whose own time partition, of whatever spec, shares an hour with it, or one
/// whose partition cannot be read (an unpartitioned delete file applies to every partition).
pub(super) fn touched_by_deletes(
    deletes: &[Option<TimePartition>],
    partition: TimePartition,
) -> bool {
    deletes.iter().any(|d| d.is_none_or(|p| p.overlaps(partition)))
}

/// How the `small` files of a partition are written: copied when each has row groups of at
/// least `copy_min` bytes on average (the manifests' split offsets count them; the copy
/// checks every row group's size, schema and codec and falls back to decoding otherwise) and,
/// when the output is ordered, each records the order; else sorted when ordered.
fn method(small: &[&LiveFile], copy_min: Option<u64>, order: Option<&OutputOrder>) -> Method {
    let large_row_groups = |f: &LiveFile, min: u64| {
        f.row_groups.is_some_and(|n| f.size / u64::try_from(n).unwrap_or(u64::MAX) >= min)
    };
    let in_order = |f: &LiveFile| match order {
        None => true,
        Some(o) => o.sort_order_id.is_some() && f.sort_order_id.map(i64::from) == o.sort_order_id,
    };
    match copy_min {
        Some(min) if small.iter().all(|f| large_row_groups(f, min) && in_order(f)) => Method::Copy,
        _ if order.is_some() => Method::Sort,
        _ => Method::Rewrite,
    }
}

/// Whether rewriting `members` gains anything: merging two or more files, or moving a file of
/// another spec than `output_spec` into it.
fn worth_rewriting(members: &[&LiveFile], output_spec: i32) -> bool {
    members.len() > 1 || members.iter().any(|f| f.spec_id != output_spec)
}

/// Every file of `small` in one group (by path), expected to fill `ceil(bytes / target)`
/// files; none when rewriting them gains nothing.
fn one_group(mut small: Vec<&LiveFile>, target: u64, output_spec: i32) -> Vec<FileGroup> {
    if !worth_rewriting(&small, output_spec) {
        return Vec::new();
    }
    small.sort_by(|a, b| a.path.cmp(&b.path));
    vec![group(&small, target)]
}

/// The group of `members`, expected to fill `ceil(bytes / target)` files (at least one).
fn group(members: &[&LiveFile], target: u64) -> FileGroup {
    let bytes = members.iter().map(|f| f.size).sum::<u64>();
    FileGroup {
        files: members.iter().map(|f| f.path.clone()).collect(),
        rows: members.iter().map(|f| f.records).sum(),
        expected_output_files: usize::try_from(bytes.div_ceil(target.max(1))).unwrap_or(1).max(1),
        bytes,
    }
}

/// First-fit decreasing into bins of `target` bytes; a bin of one file of the output spec
/// rewrites nothing useful and is dropped.
fn bin_pack(mut small: Vec<&LiveFile>, target: u64, output_spec: i32) -> Vec<FileGroup> {
    small.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    let mut bins: Vec<(u64, Vec<&LiveFile>)> = Vec::new();
    for f in small {
        match bins.iter_mut().find(|(bytes, _)| bytes + f.size <= target) {
            Some((bytes, members)) => {
                *bytes += f.size;
                members.push(f);
            }
            None => bins.push((f.size, vec![f])),
        }
    }
    bins.into_iter()
        .filter(|(_, members)| worth_rewriting(members, output_spec))
        .map(|(_, members)| group(&members, target))
        .collect()
}

#[cfg(test)]
mod tests;
