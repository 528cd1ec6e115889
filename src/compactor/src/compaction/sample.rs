//! A sample of a group's inputs written in memory with the output's writer settings: the
//! output ratio of a table that has no compacted files yet ([`super::output_ratio`]).
//!
//! Up to [`SAMPLE_ROWS`] rows (one output row group) and [`SAMPLE_BYTES`] of input are read
//! and encoded as the rewrite would, in files of about the target's size; the written bytes
//! over the input bytes they came from (a file read in part counts for its share of rows) is
//! the ratio. Nothing is written to the object store.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef as ArrowSchemaRef;
use futures::TryStreamExt;
use iceberg::table::Table;
use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use tracing::warn;

use super::order::OutputOrder;
use super::output_ratio::{OutputRatio, RatioSource};
use super::plan::{FileGroup, Method, PartitionPlan, TablePlan};
use super::props;
use super::read;
use super::rewrite::RewriteSettings;
use super::rewrite_error::RewriteError;
use super::scan::{scan_tasks, take_group_tasks};
use crate::live_files::ManifestCache;
use crate::log_target;
use crate::step::TableContext;

/// Rows written in memory for a sample, at most: one output row group.
const SAMPLE_ROWS: usize = 128 * 1024;

/// Input bytes read for a sample, at most (a larger file is read in part).
const SAMPLE_BYTES: u64 = 16 * 1024 * 1024;

/// The ratio of a sample of `plan` (planned for the table in `cx` at a ratio of 1), taken
/// from the first group of the first partition it could change: one that is decoded (copied
/// groups keep their bytes) and is packed in more than one group or expected to fill more
/// than one file. `None` when no partition is such (a smaller output changes nothing, and a
/// table of little data is not sampled on every pass), or when the sample cannot be read
/// (logged; the group's rewrite then reports the problem).
pub(crate) async fn sample_plan(
    cx: &TableContext<'_>,
    plan: &TablePlan,
    settings: &RewriteSettings,
    order: Option<&OutputOrder>,
    cache: &ManifestCache,
) -> Option<OutputRatio> {
    let changed = |c: &&PartitionPlan| {
        c.method != Method::Copy
            && (c.groups.len() > 1 || c.groups.iter().any(|g| g.expected_output_files > 1))
    };
    let group = plan.candidates.iter().find(changed)?.groups.first()?;
    match sample(cx.table, group, settings, order, cache).await {
        Ok(ratio) => ratio,
        Err(e) => {
            warn!(
                target: log_target::SERVICE, table = %cx.id, error = %e,
                "could not sample the output's size; groups are sized by their input bytes"
            );
            None
        }
    }
}

/// The ratio of a sample of `group`'s inputs in `table`: up to [`SAMPLE_ROWS`] rows (and
/// [`SAMPLE_BYTES`] of input), written in memory with the output's writer properties in files
/// of about the target's size ([`SampleFiles`]), against the input bytes they take (each row
/// counts for its file's bytes over its rows).
async fn sample(
    table: &Table,
    group: &FileGroup,
    settings: &RewriteSettings,
    order: Option<&OutputOrder>,
    cache: &ManifestCache,
) -> Result<Option<OutputRatio>, RewriteError> {
    let paths = group.files.iter().map(String::as_str);
    let mut tasks = scan_tasks(table, paths, cache).await?;
    let tasks = take_group_tasks(&mut tasks, group)?;
    let schema = table.metadata().current_schema().clone();
    let arrow_schema = Arc::new(
        iceberg::arrow::schema_to_arrow_schema(&schema)
            .map_err(|e| RewriteError::Scan(Box::new(e)))?,
    );
    let reader = read::group_reader(table, settings.batch_rows);
    let file_settings = settings.file_settings(SAMPLE_ROWS as u64);
    let props = props::writer_properties(&file_settings, &schema, order);
    let in_memory = |e: ParquetError| RewriteError::Write {
        dir: "memory (a sample of the inputs)".to_string(),
        source: Box::new(iceberg::Error::new(iceberg::ErrorKind::Unexpected, e.to_string())),
    };
    let input_per_row = group.bytes as f64 / group.rows.max(1) as f64;
    let mut files = SampleFiles::new(
        arrow_schema.clone(),
        props,
        settings.target_file_size_bytes,
        input_per_row,
    );
    for task in tasks {
        if files.rows() >= SAMPLE_ROWS || files.input_bytes() >= SAMPLE_BYTES as f64 {
            break;
        }
        let per_row = task.file_size_in_bytes as f64 / task.record_count.unwrap_or(0).max(1) as f64;
        let path = task.data_file_path.clone();
        let read_err = |e| RewriteError::Read { path: path.clone(), source: Box::new(e) };
        let fetched = read::fetch(table, task).await.map_err(read_err)?;
        let mut batches =
            read::decode(&reader, fetched, &arrow_schema, settings.batch_rows).map_err(read_err)?;
        while files.rows() < SAMPLE_ROWS {
            let Some(batch) = batches.try_next().await.map_err(read_err)? else { break };
            let batch = batch.slice(0, batch.num_rows().min(SAMPLE_ROWS - files.rows()));
            files.write(&batch, per_row).map_err(in_memory)?;
        }
    }
    let Some((written, input)) = files.finish().map_err(in_memory)? else { return Ok(None) };
    Ok(OutputRatio::measured(written as f64 / input, RatioSource::Sample))
}

/// A sample's in-memory files, each closed at about the target's size as the output's are
/// (so that a small target's per-file costs, footer and dictionaries, are counted), and
/// what they hold.
struct SampleFiles {
    schema: ArrowSchemaRef,
    props: WriterProperties,
    target: u64,
    /// Rows a file is closed at: the target over the bytes a row takes (at first in the
    /// inputs, then in the files closed so far).
    rows_per_file: usize,
    current: Option<ArrowWriter<Vec<u8>>>,
    current_rows: usize,
    current_input: f64,
    /// Bytes written, input bytes and rows of the closed files.
    closed: (u64, f64, usize),
}

impl SampleFiles {
    fn new(schema: ArrowSchemaRef, props: WriterProperties, target: u64, per_row: f64) -> Self {
        Self {
            schema,
            props,
            target,
            rows_per_file: Self::rows_for(target, per_row),
            current: None,
            current_rows: 0,
            current_input: 0.0,
            closed: (0, 0.0, 0),
        }
    }

    /// Rows written, in every file.
    fn rows(&self) -> usize {
        self.closed.2 + self.current_rows
    }

    /// Input bytes of the rows written, in every file.
    fn input_bytes(&self) -> f64 {
        self.closed.1 + self.current_input
    }

    /// Rows of `per_row` bytes in a file of `target` bytes, within 1 and [`SAMPLE_ROWS`].
    fn rows_for(target: u64, per_row: f64) -> usize {
        ((target as f64 / per_row.max(1.0)) as usize).clamp(1, SAMPLE_ROWS)
    }

    /// Writes `batch`, whose rows took `per_row` input bytes each, closing files as they fill.
    fn write(&mut self, batch: &RecordBatch, per_row: f64) -> Result<(), ParquetError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = (self.rows_per_file - self.current_rows).min(batch.num_rows() - offset);
            let writer = match &mut self.current {
                Some(writer) => writer,
                None => self.current.insert(ArrowWriter::try_new(
                    Vec::new(),
                    Arc::clone(&self.schema),
                    Some(self.props.clone()),
                )?),
            };
            writer.write(&batch.slice(offset, len))?;
            offset += len;
            self.current_rows += len;
            self.current_input += len as f64 * per_row;
            if self.current_rows >= self.rows_per_file {
                self.close()?;
            }
        }
        Ok(())
    }

    /// Closes the current file and sizes the next at the bytes a row took in those closed.
    fn close(&mut self) -> Result<(), ParquetError> {
        if let Some(writer) = self.current.take() {
            let bytes = writer.into_inner()?.len() as u64;
            let (written, input, rows) = self.closed;
            self.closed = (written + bytes, input + self.current_input, rows + self.current_rows);
            let per_row = self.closed.0 as f64 / self.closed.2.max(1) as f64;
            self.rows_per_file = Self::rows_for(self.target, per_row);
        }
        (self.current_rows, self.current_input) = (0, 0.0);
        Ok(())
    }

    /// Bytes written and input bytes of the closed files; of the one file written when none
    /// filled (a group smaller than a target's worth); `None` without rows.
    fn finish(mut self) -> Result<Option<(u64, f64)>, ParquetError> {
        if self.closed.2 == 0 {
            self.close()?;
        }
        let (written, input, rows) = self.closed;
        Ok((rows > 0 && input >= 1.0).then_some((written, input)))
    }
}
