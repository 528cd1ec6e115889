//! Rolling output files on the bytes actually written.
//!
//! iceberg's rolling writer closes a file once "bytes written + estimated size of the buffered
//! row group" passes the target. The buffered estimate is of encoded but not yet compressed
//! data, so a file was closed when its compressed size was about half the target, and the next
//! pass rewrote the half-size files again. Small row groups would make the estimate closer but
//! cost compression and footer space, which matters most for small targets.
//!
//! Here the size of the file being written is estimated from its rows and the bytes a row
//! takes once written: at first the inputs' (their file sizes over their row counts, from the
//! manifests); then, each time a row group of the file is complete, the file's own so far
//! (slices never cross a row-group boundary, so at one the writer has flushed every row and
//! its written size is exact); and once a file is closed, that file's (real size, footer
//! included, over its rows). Output that compresses much better than its inputs (ours
//! against a writer's zstd level 1 with dictionaries everywhere: about 0.7x) would otherwise
//! close a group's first file at 0.7 of the target, small enough to be compacted again. Rows are
//! handed to the writer in slices of a thirty-second of the target, so one write cannot overshoot
//! it. A file is closed once its estimate reaches its limit: the target, or, when the rows left
//! (the group's rows less those written, at the bytes a row takes) would overfill the files the
//! plan still expects, their even share of those bytes, up to 1.1 times the target. So output a
//! few percent larger than the plan estimated still fills the planned number of files instead
//! of ending in a sliver of one.

use arrow_array::RecordBatch;
use iceberg::spec::{DataContentType, DataFile, PartitionKey};
use iceberg::writer::CurrentFileStatus;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{FileNameGenerator, LocationGenerator};
use iceberg::writer::file_writer::rolling_writer::{RollingFileWriter, RollingFileWriterBuilder};
use iceberg::{Error as IcebergError, ErrorKind};

/// Smallest buffered row group, in estimated bytes, whatever the target.
const MIN_ROW_GROUP_BYTES: u64 = 64 * 1024;

/// The row-group byte limit (encoded, before compression) for files of `target` bytes: the
/// target itself, so a file holds a few row groups once compressed, between 64 KiB and `max`
/// (which bounds the memory one buffered row group takes).
pub(crate) fn row_group_bytes(target: u64, max: u64) -> usize {
    let bytes = target.clamp(MIN_ROW_GROUP_BYTES, max.max(MIN_ROW_GROUP_BYTES));
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// The size at which an output file of a group is closed once `closed` of its files are: the
/// `target`, or 1.1 times it for the last of the `planned_files`, so that output compressing a
/// little worse than its input does not end in a sliver of a file.
pub(crate) fn file_limit(target: u64, planned_files: usize, closed: usize) -> u64 {
    if closed + 1 >= planned_files.max(1) { target.saturating_add(target / 10) } else { target }
}

/// The size a file is closed at when `bytes_left` are still to be written (its own included)
/// into the `files_left` files the plan still expects: the target, or their even share of
/// the bytes up to 1.1 times the target.
fn share_limit(target: u64, files_left: usize, bytes_left: f64) -> f64 {
    let share = bytes_left / files_left.max(1) as f64;
    share.clamp(target as f64, target as f64 * 1.1)
}

/// Rows per write for rows of `bytes_per_row` bytes: a thirty-second of the target, at least
/// one row and at most `max_rows`.
fn rows_per_write(target: u64, bytes_per_row: f64, max_rows: usize) -> usize {
    let rows = (target as f64 / 32.0) / bytes_per_row.max(1.0);
    (rows as usize).clamp(1, max_rows.max(1))
}

/// `bytes` over `rows`, at least one byte a row.
fn bytes_per_row(bytes: u64, rows: u64) -> f64 {
    (bytes as f64 / rows.max(1) as f64).max(1.0)
}

/// Writes data files of one partition, starting a new file when the current one is full.
pub(crate) struct SizedFiles<L: LocationGenerator, F: FileNameGenerator> {
    builder: RollingFileWriterBuilder<ParquetWriterBuilder, L, F>,
    key: Option<PartitionKey>,
    sort_order_id: Option<i32>,
    target: u64,
    planned_files: usize,
    row_group_rows: Option<u64>,
    bytes_per_row: f64,
    /// The group's rows, and those in closed files.
    total_rows: u64,
    closed_rows: u64,
    current: Option<RollingFileWriter<ParquetWriterBuilder, L, F>>,
    current_rows: u64,
    closed: Vec<DataFile>,
}

impl<L: LocationGenerator, F: FileNameGenerator> SizedFiles<L, F> {
    /// Data files of `key` of about `target` bytes each, `planned_files` of them expected, for
    /// `rows` expected to take `expected_bytes` once written, each recording `sort_order_id`
    /// when set;
    /// `builder` must not roll on its own (its rolling target is never reached), and writes
    /// row groups of `row_group_rows` rows at most when set.
    pub(crate) fn new(
        builder: RollingFileWriterBuilder<ParquetWriterBuilder, L, F>,
        key: PartitionKey,
        (target, planned_files): (u64, usize),
        sort_order_id: Option<i32>,
        row_group_rows: Option<usize>,
        (expected_bytes, rows): (u64, u64),
    ) -> Self {
        Self {
            builder,
            key: Some(key),
            sort_order_id,
            target,
            planned_files,
            row_group_rows: row_group_rows.map(|r| r.max(1) as u64),
            bytes_per_row: bytes_per_row(expected_bytes, rows),
            total_rows: rows,
            closed_rows: 0,
            current: None,
            current_rows: 0,
            closed: Vec::new(),
        }
    }

    /// The size at which the file being written is closed: the target, or an even share of
    /// the bytes left (this file's included) over the files the plan still expects (at least
    /// this one), up to 1.1 times the target.
    fn limit(&self) -> f64 {
        let files_left = self.planned_files.saturating_sub(self.closed.len());
        let rows_left = self.total_rows.saturating_sub(self.closed_rows);
        share_limit(self.target, files_left, rows_left as f64 * self.bytes_per_row)
    }

    /// Writes `batch` in slices of a thirty-second of the target (at the bytes a row takes as
    /// estimated now), none crossing a row-group boundary, starting new files as they fill.
    pub(crate) async fn write(&mut self, batch: &RecordBatch) -> iceberg::Result<()> {
        let step = rows_per_write(self.target, self.bytes_per_row, batch.num_rows());
        let mut offset = 0;
        while offset < batch.num_rows() {
            let mut len = step.min(batch.num_rows() - offset);
            if let Some(group) = self.row_group_rows {
                let to_boundary = group - self.current_rows % group;
                len = len.min(usize::try_from(to_boundary).unwrap_or(usize::MAX));
            }
            self.write_slice(batch.slice(offset, len)).await?;
            offset += len;
        }
        Ok(())
    }

    async fn write_slice(&mut self, slice: RecordBatch) -> iceberg::Result<()> {
        let estimate = self.current_rows as f64 * self.bytes_per_row;
        if self.current.is_some() && estimate >= self.limit() {
            self.close_current().await?;
        }
        self.current_rows += slice.num_rows() as u64;
        let writer = self.current.get_or_insert_with(|| self.builder.build());
        writer.write(&self.key, &slice).await?;
        // At a row-group boundary the writer has flushed every row it was given, so what it
        // has written is the file's exact size so far (less the footer).
        if self.row_group_rows.is_some_and(|group| self.current_rows.is_multiple_of(group)) {
            let written = writer.current_written_size() as u64;
            self.bytes_per_row = bytes_per_row(written, self.current_rows);
        }
        Ok(())
    }

    async fn close_current(&mut self) -> iceberg::Result<()> {
        self.closed_rows += self.current_rows;
        self.current_rows = 0;
        if let Some(writer) = self.current.take() {
            let mut files = Vec::new();
            for mut file in writer.close().await? {
                file.content(DataContentType::Data);
                if let Some(key) = &self.key {
                    file.partition(key.data().clone());
                    file.partition_spec_id(key.spec().spec_id());
                }
                if let Some(id) = self.sort_order_id {
                    file.sort_order_id(id);
                }
                let built = file.build().map_err(|e| {
                    IcebergError::new(ErrorKind::DataInvalid, format!("building a data file: {e}"))
                })?;
                files.push(built);
            }
            let (bytes, rows) = files
                .iter()
                .fold((0, 0), |(b, r), f| (b + f.file_size_in_bytes(), r + f.record_count()));
            if rows > 0 {
                self.bytes_per_row = bytes_per_row(bytes, rows);
            }
            self.closed.extend(files);
        }
        Ok(())
    }

    /// Closes the last file and returns every file written.
    pub(crate) async fn close(mut self) -> iceberg::Result<Vec<DataFile>> {
        self.close_current().await?;
        Ok(self.closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_groups_are_the_target_within_bounds() {
        let max = 64 * 1024 * 1024;
        assert_eq!(row_group_bytes(4 * 1024 * 1024, max), 4 * 1024 * 1024);
        assert_eq!(row_group_bytes(16 * 1024, max), 64 * 1024, "never below 64 KiB");
        assert_eq!(row_group_bytes(1 << 30, max), 64 * 1024 * 1024, "never above the maximum");
    }

    #[test]
    fn files_share_what_is_left_up_to_a_tenth_over_the_target() {
        let mib = 1024.0 * 1024.0;
        // 27 files planned, 28 targets' worth written: each takes 28/27 of the target.
        let share = share_limit(1 << 20, 27, 28.0 * mib);
        assert!((share - 28.0 / 27.0 * mib).abs() < 1.0, "{share}");
        assert_eq!(share_limit(1 << 20, 2, 1.5 * mib), mib, "less than planned: the target");
        assert_eq!(share_limit(1 << 20, 1, 3.0 * mib), 1.1 * mib, "never past 1.1x");
        assert_eq!(share_limit(1 << 20, 0, 1.05 * mib), 1.05 * mib, "past the plan: the rest");
    }

    #[test]
    fn writes_are_a_thirty_second_of_the_target() {
        assert_eq!(rows_per_write(256 * 1024, 64.0, 8192), 128);
        assert_eq!(rows_per_write(128 << 20, 64.0, 8192), 8192, "capped at the batch size");
        assert_eq!(rows_per_write(1024, 1e6, 8192), 1, "at least one row");
        assert_eq!(rows_per_write(1024, 0.0, 8192), 32, "a row counts as at least 1 byte");
        assert_eq!(bytes_per_row(1000, 0), 1000.0, "no rows counts as one");
    }
}
