//! How many bytes compacted output takes per byte of its inputs: the ratio the plan packs
//! groups and counts output files by.
//!
//! Output written with the tuned encodings is about 0.7-0.9x its inputs; a group packed with
//! a target's worth of *input* then fills 0.7 of a file, below the small-file threshold, and
//! the next pass rewrites it again. So groups are packed by expected output bytes: input bytes
//! times this ratio. The ratio comes, in order of preference, from
//! - the table's own compacted files: the bytes a row takes in the most recent ones (by
//!   sequence number, up to [`RECENT_ROWS`]) over the bytes a row takes in its small files
//!   ([`from_compacted`]);
//! - a sample of the inputs written in memory, on a table's first compaction
//!   ([`super::sample`]);
//! - 1, when neither is possible ([`OutputRatio::ASSUMED`]).
//!
//! The rolling writer corrects what the estimate misses: it learns each file's bytes per row
//! at every row-group boundary ([`super::roll`]).

use iceberg::spec::DataContentType;
use serde::{Deserialize, Serialize};

use super::props::COMPACTED_FILE_PREFIX;
use crate::live_files::LiveFile;

/// Rows of the most recent compacted files the ratio is measured on, at most.
const RECENT_ROWS: u64 = 1_000_000;

/// Fewest rows on each side (compacted files, small files) for their ratio to count.
const MIN_ROWS: u64 = 10_000;

/// The ratio is kept within these bounds, whatever was measured.
const BOUNDS: (f64, f64) = (0.05, 20.0);

/// Where a ratio comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatioSource {
    /// Nothing measured: output is assumed as large as its inputs.
    #[default]
    Assumed,
    /// The table's most recent compacted files against its small files.
    CompactedFiles,
    /// A sample of the inputs written in memory.
    Sample,
}

/// Expected output bytes per input byte, and where the figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OutputRatio {
    /// Output bytes per input byte.
    pub ratio: f64,
    /// How it was found.
    pub source: RatioSource,
}

impl Default for OutputRatio {
    fn default() -> Self {
        Self::ASSUMED
    }
}

impl OutputRatio {
    /// Output as large as its inputs.
    pub const ASSUMED: Self = Self { ratio: 1.0, source: RatioSource::Assumed };

    /// `ratio` measured by `source`, within bounds; `None` when it is not a number.
    pub(crate) fn measured(ratio: f64, source: RatioSource) -> Option<Self> {
        ratio.is_finite().then(|| Self { ratio: ratio.clamp(BOUNDS.0, BOUNDS.1), source })
    }

    /// The expected output bytes of `input` bytes.
    pub(crate) fn of(self, input: u64) -> u64 {
        (input as f64 * self.ratio).round() as u64
    }
}

/// Whether `file` was written by the compactor (a rewrite or a copy).
fn compacted(file: &LiveFile) -> bool {
    let name = file.path.rsplit('/').next().unwrap_or(&file.path);
    name.starts_with(COMPACTED_FILE_PREFIX)
}

/// Bytes per row of `files`, when they hold at least [`MIN_ROWS`].
fn bytes_per_row<'a>(files: impl IntoIterator<Item = &'a LiveFile>) -> Option<f64> {
    let (bytes, rows) =
        files.into_iter().fold((0u64, 0u64), |(b, r), f| (b + f.size, r + f.records));
    (rows >= MIN_ROWS).then(|| bytes as f64 / rows as f64)
}

/// The ratio measured on `files` (a table's live files): the bytes a row takes in its most
/// recent compacted data files of spec `output_spec` (up to [`RECENT_ROWS`]) over the bytes
/// a row takes in its data files below `small` bytes that it did not write; `None` without
/// [`MIN_ROWS`] on each side.
pub(crate) fn from_compacted(
    files: &[LiveFile],
    output_spec: i32,
    small: u64,
) -> Option<OutputRatio> {
    let data = || files.iter().filter(|f| f.content == DataContentType::Data && f.records > 0);
    let mut outputs: Vec<&LiveFile> =
        data().filter(|f| f.spec_id == output_spec && compacted(f)).collect();
    outputs.sort_by_key(|f| std::cmp::Reverse(f.sequence_number.unwrap_or(0)));
    let mut rows = 0;
    let recent = outputs.into_iter().take_while(|f| {
        let take = rows < RECENT_ROWS;
        rows += f.records;
        take
    });
    let output = bytes_per_row(recent)?;
    let input = bytes_per_row(data().filter(|f| f.size < small && !compacted(f)))?;
    OutputRatio::measured(output / input, RatioSource::CompactedFiles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::Struct;

    fn file(path: &str, size: u64, records: u64, seq: i64) -> LiveFile {
        LiveFile {
            path: path.to_string(),
            content: DataContentType::Data,
            spec_id: 0,
            partition: None,
            size,
            records,
            row_groups: Some(1),
            sort_order_id: None,
            sequence_number: Some(seq),
            partition_value: Struct::empty(),
            referenced_data_file: None,
            equality_ids: None,
        }
    }

    #[test]
    fn the_ratio_is_recent_compacted_bytes_per_row_over_small_files() {
        let files = [
            // 50 bytes a row in small files.
            file("s3://w/t/data/h=1/00000-0-a.parquet", 500_000, 10_000, 1),
            file("s3://w/t/data/h=1/00000-0-b.parquet", 500_000, 10_000, 2),
            // An old compacted file at 50 bytes a row, before the encodings changed...
            file("s3://w/t/data/h=0/compacted-old-0.parquet", 50_000_000, 1_000_000, 3),
            // ...and the most recent at 35.
            file("s3://w/t/data/h=0/compacted-new-0.parquet", 35_000_000, 1_000_000, 4),
        ];
        let ratio = from_compacted(&files, 0, 1 << 20).unwrap();
        assert_eq!(ratio.source, RatioSource::CompactedFiles);
        assert!((ratio.ratio - 0.7).abs() < 1e-9, "{ratio:?}");
        assert_eq!(ratio.of(1000), 700);
    }

    #[test]
    fn too_few_rows_or_another_spec_measure_nothing() {
        let small = file("s3://w/t/data/h=1/a.parquet", 500_000, 10_000, 1);
        let out = file("s3://w/t/data/h=0/compacted-x-0.parquet", 35_000, 1_000, 2);
        assert_eq!(from_compacted(&[small.clone(), out], 0, 1 << 20), None, "1,000 rows");
        let other =
            LiveFile { spec_id: 1, ..file("s3://w/compacted-y.parquet", 1 << 20, 20_000, 3) };
        assert_eq!(from_compacted(&[small.clone(), other.clone()], 0, 1 << 20), None, "spec 1");
        assert_eq!(from_compacted(&[other], 1, 1 << 20), None, "no small files");
    }

    #[test]
    fn a_measured_ratio_is_bounded() {
        assert_eq!(OutputRatio::measured(0.01, RatioSource::Sample).unwrap().ratio, BOUNDS.0);
        assert_eq!(OutputRatio::measured(100.0, RatioSource::Sample).unwrap().ratio, BOUNDS.1);
        assert_eq!(OutputRatio::measured(f64::NAN, RatioSource::Sample), None);
    }
}
