//! Compaction planning: from a table's live files, decide which time partitions are worth
//! compacting and how their small files group into target-size outputs. Pure data in, plan
//! out: planning reads nothing and changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::partition::{Grain, TimePartition};
use iceberg::spec::DataContentType;
use serde::{Deserialize, Serialize};

use super::order::OutputOrder;
use super::output_ratio::OutputRatio;
use crate::delete_index::{DeleteIndex, positions_at_most};
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
    /// A data file to which at least this many delete files apply is rewritten (its deletes
    /// applied) whatever its size; 0 never (Spark's `delete-file-threshold`).
    pub delete_file_threshold: usize,
    /// A data file whose rows are at least this percentage deleted by delete files scoped to
    /// it is rewritten whatever its size; 0 never (Spark's `delete-ratio-threshold`).
    pub delete_ratio_percent: u64,
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
    /// Bytes the rewrite is expected to write: `bytes` times the plan's output ratio (copied
    /// groups: `bytes`).
    #[serde(default)]
    pub expected_bytes: u64,
    /// Locations of the delete files that apply to the inputs: the rewrite applies them, and
    /// the commit removes those that then apply to no live data file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete_files: Vec<String>,
    /// Fewest rows the rewrite may write: `rows` less what the position delete files that
    /// apply can remove (0 when an equality delete applies; `rows` without deletes).
    #[serde(default)]
    pub min_rows: u64,
}

impl FileGroup {
    /// What the group's rewrite is expected to write.
    pub(crate) fn planned_output(&self) -> PlannedOutput {
        PlannedOutput { files: self.expected_output_files, bytes: Some(self.expected_bytes) }
    }
}

/// What a rewrite is expected to write: how many files, and how many bytes (`None`: as many as
/// its inputs take).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlannedOutput {
    /// Files.
    pub files: usize,
    /// Bytes, when estimated.
    pub bytes: Option<u64>,
}

impl From<usize> for PlannedOutput {
    fn from(files: usize) -> Self {
        Self { files, bytes: None }
    }
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
    /// Live delete files that apply to data files of the partition.
    #[serde(default)]
    pub delete_files: usize,
    /// Rows of those delete files (deleted positions, or equality keys).
    #[serde(default)]
    pub delete_rows: u64,
    /// Data files rewritten, whatever their size, because of the deletes that apply to
    /// them (`delete_file_threshold`, `delete_ratio_threshold_percent`).
    #[serde(default)]
    pub files_with_deletes_rewritten: usize,
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
    /// Its files use an older partition spec whose partition the default spec's cannot hold
    /// (a day of files for an hour-partitioned table): they would have to be split.
    OtherPartitionSpec,
    /// Its partition is not a time partition (hour or day) this code can interpret.
    UninterpretablePartition,
    /// Every group of it is deferred to the next pass: its tenant's share of this pass
    /// (`max_groups_per_tenant`, `max_bytes_per_tenant`) went to more urgent groups.
    TenantCap,
}

impl SkipReason {
    /// The reason's name, as reports and `--json` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ActiveHour => "active_hour",
            Self::TooFewSmallFiles => "too_few_small_files",
            Self::OtherPartitionSpec => "other_partition_spec",
            Self::UninterpretablePartition => "uninterpretable_partition",
            Self::TenantCap => "tenant_cap",
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
    /// Live delete files that apply to its data files.
    #[serde(default)]
    pub delete_files: usize,
    /// Rows of those delete files.
    #[serde(default)]
    pub delete_rows: u64,
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
    /// Groups deferred to the next pass because their tenant's share of this pass went to
    /// more urgent groups (`max_groups_per_tenant`, `max_bytes_per_tenant`); they are in no
    /// candidate.
    #[serde(default)]
    pub deferred_groups: usize,
    /// Input bytes of the deferred groups.
    #[serde(default)]
    pub deferred_bytes: u64,
    /// Live data files of the candidate partitions before compaction.
    pub files_before: usize,
    /// Expected live data files of the candidate partitions after compaction.
    pub files_after: usize,
    /// Bytes the rewrite reads.
    pub bytes_to_rewrite: u64,
    /// Rows the rewrite reads (and must write back, less the rows deleted).
    pub rows_to_rewrite: u64,
    /// Live delete files of the table.
    #[serde(default)]
    pub delete_files: usize,
    /// Of those, the delete files the rewrite applies.
    #[serde(default)]
    pub delete_files_to_apply: usize,
    /// The order the rewritten rows are written in; `null` when unsorted.
    pub sort: Option<OutputOrder>,
    /// Output bytes expected per input byte of decoded groups, and where the figure comes
    /// from; groups are packed by expected output bytes.
    #[serde(default)]
    pub output_ratio: OutputRatio,
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
pub(crate) struct OutputSpec {
    /// The spec's id.
    pub spec_id: i32,
    /// Hour or day.
    pub grain: Option<Grain>,
}

/// Plans the compaction of a table whose live files are `files` and whose default partition
/// spec is `default_spec_id` (its grain that of its files), at time `now`, unsorted.
#[cfg(test)]
pub(crate) fn plan(
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
    let output = OutputSpec { spec_id: default_spec_id, grain };
    plan_ordered(files, output, settings, now, None, OutputRatio::ASSUMED)
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
            Some(p) if file.spec_id == output.spec_id && output.grain.is_some() => Target::Into(p),
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
/// partition holds is left alone. Delete files are applied by the rewrite of the data files
/// they apply to ([`DeleteIndex`]); a large data file is rewritten for its deletes alone once
/// they pass `delete_file_threshold` or `delete_ratio_percent`.
///
/// Each partition gets a [`Method`]: `copy` when its small files qualify for the copy path
/// (none is of an older spec and no delete applies to any), else `sort` when ordered (one
/// group of every input, rolled into as many target-size files as it fills, so that the
/// sorted rows span the partition's new files, each with a narrow key range), else
/// `rewrite`. Copied and rewritten groups are bin-packed: first-fit decreasing into groups of
/// about one target-size file each. Decoded groups are sized by their expected output bytes
/// (input bytes times `ratio`); copied groups keep their bytes.
pub(crate) fn plan_ordered(
    files: &[LiveFile],
    output: OutputSpec,
    settings: &PlanSettings,
    now: DateTime<Utc>,
    order: Option<&OutputOrder>,
    ratio: OutputRatio,
) -> TablePlan {
    let index = DeleteIndex::new(files);
    let mut partitions: BTreeMap<Target, Vec<&LiveFile>> = BTreeMap::new();
    for f in files {
        partitions.entry(Target::of(f, output)).or_default().push(f);
    }
    let quiet_secs = i64::try_from(settings.quiet_period.as_secs()).unwrap_or(i64::MAX);
    let mut out = TablePlan {
        delete_files: files.iter().filter(|f| f.content != DataContentType::Data).count(),
        output_ratio: ratio,
        ..TablePlan::default()
    };
    let mut applied = std::collections::BTreeSet::new();
    for (target, files) in partitions {
        let (spec_id, partition) = match target {
            Target::Into(p) => (output.spec_id, Some(p)),
            Target::Left(spec_id, p) => (spec_id, p),
        };
        let data: Vec<Input> = files
            .into_iter()
            .filter(|f| f.content == DataContentType::Data)
            .map(|file| Input { file, deletes: index.applying_to(file) })
            .collect();
        if data.is_empty() {
            continue;
        }
        out.partitions += 1;
        let (delete_files, delete_rows) = deletes_of(&data);
        // Inputs: small files of the output spec, every file of an older one, and files whose
        // deletes are past a threshold.
        let other_spec = |f: &LiveFile| f.spec_id != output.spec_id;
        let for_deletes = |i: &Input| past_delete_thresholds(i, settings);
        let small = data.iter().filter(|i| i.file.size < settings.small_file_threshold_bytes);
        let inputs: Vec<&Input> = data
            .iter()
            .filter(|i| {
                other_spec(i.file)
                    || i.file.size < settings.small_file_threshold_bytes
                    || for_deletes(i)
            })
            .collect();
        let small_files = small.count();
        let other_spec_files = inputs.iter().filter(|i| other_spec(i.file)).count();
        let files_with_deletes_rewritten = inputs
            .iter()
            .filter(|i| i.file.size >= settings.small_file_threshold_bytes && for_deletes(i))
            .count();
        let skip = |reason| SkippedPartition {
            hour_label: partition.map(TimePartition::label),
            spec_id,
            reason,
            files: data.len(),
            small_files,
            delete_files,
            delete_rows,
        };
        let Some(partition) = partition else {
            out.skipped.push(skip(SkipReason::UninterpretablePartition));
            continue;
        };
        let reason = if matches!(target, Target::Left(..)) {
            Some(SkipReason::OtherPartitionSpec)
        } else if partition.end_secs().saturating_add(quiet_secs) > now.timestamp() {
            Some(SkipReason::ActiveHour)
        } else if other_spec_files == 0
            && files_with_deletes_rewritten == 0
            && small_files < settings.min_input_files
        {
            Some(SkipReason::TooFewSmallFiles)
        } else {
            None
        };
        if let Some(reason) = reason {
            out.skipped.push(skip(reason));
            continue;
        }
        let clean = other_spec_files == 0 && inputs.iter().all(|i| i.deletes.is_empty());
        let copy_min = settings.copy_min_row_group_bytes.filter(|_| clean);
        let method = method(&inputs, copy_min, order);
        let size = Sizing {
            target: settings.target_file_size_bytes,
            ratio: if method == Method::Copy { OutputRatio::ASSUMED } else { ratio },
        };
        let groups = match method {
            Method::Sort => one_group(inputs, size, output.spec_id),
            Method::Rewrite | Method::Copy => bin_pack(inputs, size, output.spec_id),
        };
        if groups.is_empty() {
            out.skipped.push(skip(SkipReason::TooFewSmallFiles));
            continue;
        }
        applied.extend(groups.iter().flat_map(|g| g.delete_files.iter().cloned()));
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
            bytes: data.iter().map(|i| i.file.size).sum(),
            rows: data.iter().map(|i| i.file.records).sum(),
            small_files,
            delete_files,
            delete_rows,
            files_with_deletes_rewritten,
            method,
            groups,
        };
        out.files_before += candidate.files_before;
        out.files_after += candidate.files_after;
        out.bytes_to_rewrite += candidate.groups.iter().map(|g| g.bytes).sum::<u64>();
        out.rows_to_rewrite += candidate.groups.iter().map(|g| g.rows).sum::<u64>();
        out.candidates.push(candidate);
    }
    out.delete_files_to_apply = applied.len();
    out
}

/// A live data file and the delete files that apply to it.
#[derive(Debug)]
struct Input<'a> {
    file: &'a LiveFile,
    deletes: Vec<&'a LiveFile>,
}

/// The delete files that apply to any of `inputs`, each once, by path.
fn distinct_deletes<'a>(inputs: impl IntoIterator<Item = &'a Input<'a>>) -> Vec<&'a LiveFile> {
    let mut by_path = BTreeMap::new();
    for d in inputs.into_iter().flat_map(|i| i.deletes.iter()) {
        by_path.entry(d.path.as_str()).or_insert(*d);
    }
    by_path.into_values().collect()
}

/// How many delete files apply to any of `data`, and their rows.
fn deletes_of(data: &[Input]) -> (usize, u64) {
    let deletes = distinct_deletes(data);
    (deletes.len(), deletes.iter().map(|d| d.records).sum())
}

/// Whether the deletes of `input` make it worth rewriting whatever its size: as many delete
/// files as `delete_file_threshold`, or rows deleted by delete files scoped to it (the only
/// ones whose rows are known to be its own, as Spark counts them) of at least
/// `delete_ratio_percent` of its rows.
fn past_delete_thresholds(input: &Input, settings: &PlanSettings) -> bool {
    if input.deletes.is_empty() {
        return false;
    }
    let threshold = settings.delete_file_threshold;
    if threshold > 0 && input.deletes.len() >= threshold {
        return true;
    }
    let scoped: u64 = input
        .deletes
        .iter()
        .filter(|d| d.content == DataContentType::PositionDeletes)
        .filter(|d| d.referenced_data_file.is_some())
        .map(|d| d.records)
        .sum();
    let records = input.file.records.max(1);
    let percent = settings.delete_ratio_percent;
    percent > 0 && scoped.min(records).saturating_mul(100) >= percent.saturating_mul(records)
}

/// The locations of the delete files that apply to `inputs`, each once, and the fewest rows
/// they may leave of `rows`.
fn group_deletes(inputs: &[&Input], rows: u64) -> (Vec<String>, u64) {
    let deletes = distinct_deletes(inputs.iter().copied());
    let min_rows = positions_at_most(&deletes).map_or(0, |at_most| rows.saturating_sub(at_most));
    (deletes.iter().map(|d| d.path.clone()).collect(), min_rows)
}

/// How the `inputs` of a partition are written: copied when each has row groups of at
/// least `copy_min` bytes on average (the manifests' split offsets count them; the copy
/// checks every row group's size, schema and codec and falls back to decoding otherwise) and,
/// when the output is ordered, each records the order; else sorted when ordered.
fn method(inputs: &[&Input], copy_min: Option<u64>, order: Option<&OutputOrder>) -> Method {
    let large_row_groups = |f: &LiveFile, min: u64| {
        f.row_groups.is_some_and(|n| f.size / u64::try_from(n).unwrap_or(u64::MAX) >= min)
    };
    let in_order = |f: &LiveFile| match order {
        None => true,
        Some(o) => o.sort_order_id.is_some() && f.sort_order_id.map(i64::from) == o.sort_order_id,
    };
    let copyable = |min| inputs.iter().all(|i| large_row_groups(i.file, min) && in_order(i.file));
    match copy_min {
        Some(min) if copyable(min) => Method::Copy,
        _ if order.is_some() => Method::Sort,
        _ => Method::Rewrite,
    }
}

/// Whether rewriting `members` gains anything: merging two or more files, moving a file of
/// another spec than `output_spec` into it, or applying deletes.
fn worth_rewriting(members: &[&Input], output_spec: i32) -> bool {
    members.len() > 1
        || members.iter().any(|i| i.file.spec_id != output_spec || !i.deletes.is_empty())
}

/// How a partition's groups are sized: files of `target` bytes, `ratio` of their input bytes.
#[derive(Debug, Clone, Copy)]
struct Sizing {
    target: u64,
    ratio: OutputRatio,
}

/// Every input in one group (by path), expected to fill `ceil(expected bytes / target)` files;
/// none when rewriting them gains nothing.
fn one_group(mut inputs: Vec<&Input>, size: Sizing, output_spec: i32) -> Vec<FileGroup> {
    if !worth_rewriting(&inputs, output_spec) {
        return Vec::new();
    }
    inputs.sort_by(|a, b| a.file.path.cmp(&b.file.path));
    vec![group(&inputs, size)]
}

/// The group of `members`, expected to fill `ceil(expected bytes / target)` files (at least
/// one).
fn group(members: &[&Input], size: Sizing) -> FileGroup {
    let bytes = members.iter().map(|i| i.file.size).sum::<u64>();
    let rows = members.iter().map(|i| i.file.records).sum();
    let (delete_files, min_rows) = group_deletes(members, rows);
    let expected_bytes = size.ratio.of(bytes);
    let files = expected_bytes.div_ceil(size.target.max(1));
    FileGroup {
        files: members.iter().map(|i| i.file.path.clone()).collect(),
        rows,
        expected_output_files: usize::try_from(files).unwrap_or(1).max(1),
        expected_bytes,
        bytes,
        delete_files,
        min_rows,
    }
}

/// First-fit decreasing into bins of a target's worth of expected output bytes; a bin of one
/// file of the output spec without deletes rewrites nothing useful and is dropped.
fn bin_pack(mut inputs: Vec<&Input>, size: Sizing, output_spec: i32) -> Vec<FileGroup> {
    inputs
        .sort_by(|a, b| b.file.size.cmp(&a.file.size).then_with(|| a.file.path.cmp(&b.file.path)));
    let mut bins: Vec<(u64, Vec<&Input>)> = Vec::new();
    for i in inputs {
        let expected = size.ratio.of(i.file.size);
        match bins.iter_mut().find(|(bytes, _)| bytes + expected <= size.target) {
            Some((bytes, members)) => {
                *bytes += expected;
                members.push(i);
            }
            None => bins.push((expected, vec![i])),
        }
    }
    bins.into_iter()
        .filter(|(_, members)| worth_rewriting(members, output_spec))
        .map(|(_, members)| group(&members, size))
        .collect()
}

#[cfg(test)]
mod tests;
