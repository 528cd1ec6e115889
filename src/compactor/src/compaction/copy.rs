//! Merging a group of files made of large row groups by copying their column chunks.
//!
//! Files an earlier pass wrote (or a writer that flushes large row groups) are worth merging
//! into target-size files, but decoding and re-encoding every value of them gains nothing:
//! their row groups are already as large as compaction would make them. Here each input row
//! group of at least `copy_min_row_group_bytes` becomes one row group of an output file, its
//! column chunks (pages, dictionaries, page indexes, bloom filters) copied byte for byte. The
//! smaller ones (the last row group of a file closed at its target size, typically) are
//! decoded and re-encoded together into row groups of about that size, so the output holds
//! no more small row groups than a rewrite would. Each file's Iceberg column metrics are
//! aggregated from its chunks' Parquet statistics ([`metrics`]).
//!
//! A group is copied only when every input has the output's Parquet schema (field ids
//! included), the row groups to copy have the output's codec and statistics on every chunk,
//! and at least half of the group's bytes are in row groups to copy. Otherwise
//! [`copy_tasks`] says why before writing anything and [`write_group`] rewrites the group.
//! Memory is one row group being copied, or the decoded rows of less than two minimum-size
//! row groups being re-encoded, and the inputs' footers.

mod input;
mod metrics;
mod output;

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use common::partition::{PartitionDirectory, TimePartition};
use iceberg::Error as IcebergError;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::scan::FileScanTask;
use iceberg::spec::DataFile;
use iceberg::table::Table;
use parquet::arrow::ArrowSchemaConverter;
use parquet::basic::Compression;
use parquet::file::metadata::ParquetMetaData;
use parquet::schema::types::SchemaDescriptor;
use tracing::info;

use input::Input;
use metrics::NanCounts;
use output::{OpenFile, Output};

use super::order::OutputOrder;
use super::plan::{Method, PlannedOutput};
use super::props;
use super::rewrite::{
    RewriteError, RewriteOutput, RewriteSettings, RowBounds, TrackedLocations, checked,
    output_partition, rewrite_tasks,
};
use super::roll::file_limit;

/// Why a group cannot be copied, or what went wrong copying it.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// An input does not qualify (nothing was written): the reason, naming the file.
    Ineligible(String),
    /// The copy failed; files written so far have been removed.
    Failed(RewriteError),
}

/// Writes the files of `tasks` as `method` says: copied when planned so and the inputs
/// qualify, else rewritten (sorted in `order` when set); the output says which, and why a
/// planned copy was not done.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_group(
    table: &Table,
    tasks: Vec<FileScanTask>,
    expected_rows: RowBounds,
    planned: PlannedOutput,
    partition: TimePartition,
    settings: &RewriteSettings,
    method: Method,
    order: Option<&OutputOrder>,
) -> Result<RewriteOutput, RewriteError> {
    let mut fallback = None;
    if method == Method::Copy {
        match copy_tasks(table, &tasks, expected_rows, planned.files, partition, settings).await {
            Ok(out) => return Ok(out),
            Err(CopyError::Failed(e)) => return Err(e),
            Err(CopyError::Ineligible(reason)) => {
                info!(%reason, "a group planned to be copied is rewritten instead");
                fallback = Some(reason);
            }
        }
    }
    let mut out =
        rewrite_tasks(table, tasks, expected_rows, planned, partition, settings, order).await?;
    out.copy_fallback = fallback;
    Ok(out)
}

/// Copies the row groups of `tasks` (holding `expected_rows` rows, per the manifests) into
/// new files of `partition`, `planned_files` of them expected.
pub(crate) async fn copy_tasks(
    table: &Table,
    tasks: &[FileScanTask],
    expected_rows: impl Into<RowBounds>,
    planned_files: usize,
    partition: TimePartition,
    settings: &RewriteSettings,
) -> Result<RewriteOutput, CopyError> {
    let Some(min_row_group) = settings.copy_min_row_group_bytes else {
        return Err(CopyError::Ineligible("copying row groups is off".to_string()));
    };
    if let Some(task) = tasks.iter().find(|t| !t.deletes.is_empty()) {
        let reason = format!("{}: delete files apply to it", task.data_file_path);
        return Err(CopyError::Ineligible(reason));
    }
    let md = table.metadata();
    let schema = md.current_schema().clone();
    if let Some(c) = metrics::unsupported_column(&schema) {
        let reason = format!("column `{c}` has a type whose metrics a copy cannot take");
        return Err(CopyError::Ineligible(reason));
    }
    let (dir, key) = output_partition(md, partition).map_err(CopyError::Failed)?;
    let failed = |e| CopyError::Failed(write_error(&dir, e));
    let input_rows = tasks.iter().map(|t| t.record_count.unwrap_or(0)).sum();
    let file_settings = settings.file_settings(input_rows);
    let codec = file_settings.codec;
    let arrow = schema_to_arrow_schema(&schema).map_err(failed)?;
    let parquet_schema =
        ArrowSchemaConverter::new().convert(&arrow).map_err(|e| failed(e.into()))?;
    let mut inputs = Vec::with_capacity(tasks.len());
    let (mut large, mut total) = (0, 0);
    for task in tasks {
        let input = Input::open(table, task).await.map_err(CopyError::Failed)?;
        if let Some(reason) = ineligibility(&input.metadata, &parquet_schema, min_row_group, codec)
        {
            return Err(CopyError::Ineligible(format!("{}: {reason}", task.data_file_path)));
        }
        let (l, t) = row_group_bytes(&input.metadata, min_row_group);
        (large, total) = (large + l, total + t);
        inputs.push(input);
    }
    if large * 2 < total {
        return Err(CopyError::Ineligible(format!(
            "only {large} of the inputs' {total} bytes are in row groups of at least \
             copy_min_row_group_bytes ({min_row_group})"
        )));
    }
    let mut props = props::writer_properties(&file_settings, &schema, None);
    parquet::arrow::add_encoded_arrow_schema_to_metadata(&arrow, &mut props);
    let written = Arc::new(Mutex::new(Vec::new()));
    let out = Output {
        schema,
        arrow: Arc::new(arrow),
        parquet_schema: Arc::new(parquet_schema),
        props: Arc::new(props),
        key,
        locations: TrackedLocations { directory: dir.clone(), written: Arc::clone(&written) },
        names: props::file_names(),
    };
    let sizes = Sizes { target: settings.target_file_size_bytes, planned_files, min_row_group };
    let write = copy_all(table, inputs, &out, sizes);
    checked(table.file_io(), expected_rows.into(), &written, write).await.map_err(CopyError::Failed)
}

/// What a file must show to be copied: the output's Parquet schema, and the output's codec
/// and statistics on every chunk of its row groups of at least `min` bytes (the others are
/// decoded); `None` when it qualifies, else why not.
pub(crate) fn ineligibility(
    md: &ParquetMetaData,
    output: &SchemaDescriptor,
    min: u64,
    codec: Compression,
) -> Option<String> {
    let columns = md.file_metadata().schema_descr().columns();
    if columns.len() != output.num_columns() {
        return Some(format!(
            "it has {} columns, the table's schema {}",
            columns.len(),
            output.num_columns()
        ));
    }
    if let Some(c) = columns.iter().zip(output.columns()).find(|(a, b)| a != b) {
        return Some(format!("column `{}` differs from the table's schema", c.0.path()));
    }
    let copied = md.row_groups().iter().filter(|rg| compressed(rg) >= min);
    for c in copied.flat_map(|rg| rg.columns()) {
        if !props::is_output_codec(c.compression(), codec) {
            let (path, found) = (c.column_path(), c.compression());
            return Some(format!("column `{path}` is compressed with {found}, not {codec}"));
        }
        if c.statistics().is_none() {
            return Some(format!("column `{}` has no statistics", c.column_path()));
        }
    }
    None
}

fn compressed(rg: &parquet::file::metadata::RowGroupMetaData) -> u64 {
    u64::try_from(rg.compressed_size()).unwrap_or(0)
}

/// Bytes of the file's row groups of at least `min` bytes, and of all of them.
fn row_group_bytes(md: &ParquetMetaData, min: u64) -> (u64, u64) {
    md.row_groups()
        .iter()
        .map(compressed)
        .fold((0, 0), |(large, total), b| (large + if b >= min { b } else { 0 }, total + b))
}

/// How large output files and row groups are.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    target: u64,
    planned_files: usize,
    min_row_group: u64,
}

/// Copies or re-encodes every row group of `inputs` into files of `out`.
async fn copy_all(
    table: &Table,
    inputs: Vec<Input>,
    out: &Output,
    sizes: Sizes,
) -> Result<RewriteOutput, RewriteError> {
    let werr = |e| write_error(&out.locations.directory, e);
    let floats = metrics::float_leaves(&out.parquet_schema);
    let float_leaves: Vec<usize> = floats.iter().map(|&(i, _)| i).collect();
    let (mut rows_read, mut bytes_read) = (0u64, 0u64);
    let (mut files, mut current) = (Vec::new(), None::<OpenFile>);
    let mut pending = Pending::default();
    for mut input in inputs {
        bytes_read += input.size;
        let md = Arc::clone(&input.metadata);
        for (i, rg) in md.row_groups().iter().enumerate() {
            let pieces = input.row_group(rg).await?;
            rows_read += u64::try_from(rg.num_rows()).unwrap_or(0);
            let bytes = compressed(rg);
            if bytes < sizes.min_row_group {
                let leaves = None;
                let batches =
                    metrics::decode(&pieces, &md, i, leaves).map_err(|e| input.error(e))?;
                pending.add(batches, bytes);
                if pending.bytes < sizes.min_row_group {
                    continue;
                }
            }
            let file = open_file(&mut current, table, out, &floats).await.map_err(werr)?;
            if bytes < sizes.min_row_group {
                pending.flush(file, out, &floats).await.map_err(werr)?;
            } else {
                let leaves = Some(float_leaves.clone());
                let decoded =
                    metrics::decode(&pieces, &md, i, leaves).map_err(|e| input.error(e))?;
                for batch in &decoded {
                    for (column, &(_, id)) in batch.columns().iter().zip(&floats) {
                        file.nan_counts.count(column, id);
                    }
                }
                file.copy_row_group(&md, i, &pieces).await.map_err(werr)?;
            }
            if file.bytes_written() >= file_limit(sizes.target, sizes.planned_files, files.len())
                && let Some(full) = current.take()
            {
                files.push(full.close(out).await.map_err(werr)?);
            }
        }
    }
    if !pending.batches.is_empty() {
        let file = open_file(&mut current, table, out, &floats).await.map_err(werr)?;
        pending.flush(file, out, &floats).await.map_err(werr)?;
    }
    if let Some(last) = current.take() {
        files.push(last.close(out).await.map_err(werr)?);
    }
    let rows_written = files.iter().map(DataFile::record_count).sum();
    Ok(RewriteOutput {
        files,
        rows_read,
        rows_written,
        bytes_read,
        spilled_runs: 0,
        method: Method::Copy,
        copy_fallback: None,
    })
}

/// The file being written, a new one of `out` when none is.
async fn open_file<'a>(
    current: &'a mut Option<OpenFile>,
    table: &Table,
    out: &Output,
    floats: &[(usize, i32)],
) -> iceberg::Result<&'a mut OpenFile> {
    if current.is_none() {
        *current = Some(OpenFile::open(table, out, NanCounts::zero(floats)).await?);
    }
    Ok(current.as_mut().expect("just opened"))
}

/// Decoded rows of small row groups waiting to be re-encoded as one row group.
#[derive(Default)]
struct Pending {
    batches: Vec<RecordBatch>,
    /// Compressed bytes of the row groups they came from.
    bytes: u64,
}

impl Pending {
    fn add(&mut self, batches: Vec<RecordBatch>, bytes: u64) {
        self.batches.extend(batches);
        self.bytes += bytes;
    }

    /// Writes the rows as one row group of `file` and empties itself.
    async fn flush(
        &mut self,
        file: &mut OpenFile,
        out: &Output,
        floats: &[(usize, i32)],
    ) -> iceberg::Result<()> {
        for batch in &self.batches {
            for &(i, id) in floats {
                file.nan_counts.count(batch.column(i), id);
            }
        }
        file.encode_row_group(out, &self.batches).await?;
        *self = Pending::default();
        Ok(())
    }
}

fn write_error(dir: &PartitionDirectory, e: IcebergError) -> RewriteError {
    RewriteError::Write { dir: dir.dir().to_string(), source: Box::new(e) }
}
