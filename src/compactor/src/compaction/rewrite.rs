//! Rewriting one group of small files of a time partition into target-size files.
//!
//! Record batches stream from the inputs, decoded one input file at a time while the next
//! ones are fetched ([`super::read`]), into Parquet files that are closed once they reach the
//! target size as written ([`super::roll`]). Memory is bounded by a few batches, the small
//! input files fetched ahead (32 MiB at most) and one row group, never by the size of the
//! partition. With an output order the batches go through a
//! bounded-memory sort ([`super::sort`]) first, so the group's rows are in order across its
//! files, each of which records the order's `sort_order_id` when the table has the order.
//!
//! Invariants: the output holds exactly the rows of the inputs (checked against the rows read
//! and the record counts the manifests state), and a rewrite that fails leaves no file behind.

use std::sync::{Arc, Mutex};

use common::partition::{PartitionDirectory, TimePartition};
use common::storage::counted::RequestTally;
use futures::{StreamExt, TryStreamExt, stream};
use iceberg::io::FileIO;
use iceberg::scan::FileScanTask;
use iceberg::spec::{DataFile, PartitionKey, TableMetadata};
use iceberg::table::Table;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::LocationGenerator;
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use tokio_util::task::AbortOnDropHandle;

use super::order::OutputOrder;
use super::plan::{FileGroup, Method, PlannedOutput};
use super::props::{self, FileSettings};
use super::read;
use super::roll::{self, SizedFiles};
#[cfg(test)]
use super::scan::{scan_tasks, take_group_tasks};
use super::sort::{ExternalSort, SortSettings};
use super::write_props::WriteProperties;
#[cfg(test)]
use crate::live_files::ManifestCache;
use crate::snapshot::delete_quietly;
use crate::time_partition::current_time_field;

pub(crate) use super::rewrite_error::RewriteError;

/// Most (estimated, encoded) bytes of a row group, whatever the target file size.
const MAX_ROW_GROUP_BYTES: u64 = 64 * 1024 * 1024;

/// Input bytes (Parquet, as the manifests state them) past which a sorted rewrite compresses
/// its spilled runs: decoded rows take about 13 times their Parquet size, so a group below it
/// spills at most about 3 GiB uncompressed.
const COMPRESSED_SPILLS_FROM_BYTES: u64 = 256 * 1024 * 1024;

/// How a group is rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewriteSettings {
    /// An output file is closed and the next one started once it reaches this size.
    pub target_file_size_bytes: u64,
    /// Rows per record batch read from an input file.
    pub batch_rows: usize,
    /// Most rows in one Parquet row group of an output file (`None`: bounded by bytes only).
    /// Row groups narrow on the sort key are what lets a reader without page indexes skip
    /// most of a sorted file; with the encodings of [`super::encodings`] they cost no bytes.
    pub row_group_rows: Option<usize>,
    /// Most (estimated, encoded) bytes in one row group of an output file.
    pub row_group_bytes: usize,
    /// Memory and spill directory of a sorted rewrite.
    pub sort: SortSettings,
    /// Whether a `trace_id` column gets a Parquet bloom filter (unless the table says).
    pub trace_id_bloom_filter: bool,
    /// Smallest row group the copy path copies; `None` when copying is off.
    pub copy_min_row_group_bytes: Option<u64>,
    /// Whether columns get the dictionary and zstd level that suit them
    /// (`[compactor.output] tuned_encodings`), else Parquet's defaults.
    pub tuned_encodings: bool,
    /// The table's own `write.*` properties, which win over the settings above.
    pub table: WriteProperties,
}

impl RewriteSettings {
    /// Settings writing files of `target_file_size_bytes`, with 8192-row batches and row
    /// groups of at most 128 Ki rows or the target's size (64 KiB to 64 MiB, as buffered),
    /// the default sort budget and spill directory, and `[compactor.output]`'s
    /// defaults (a `trace_id` bloom filter, row groups of 8 MiB and more copied).
    pub fn new(target_file_size_bytes: u64) -> Self {
        let output = common::config::OutputConfig::default();
        Self {
            target_file_size_bytes,
            batch_rows: 8192,
            row_group_rows: Some(128 * 1024),
            row_group_bytes: roll::row_group_bytes(target_file_size_bytes, MAX_ROW_GROUP_BYTES),
            sort: SortSettings::default(),
            trace_id_bloom_filter: output.trace_id_bloom_filter,
            copy_min_row_group_bytes: output.copy_min_row_group_bytes(),
            tuned_encodings: output.tuned_encodings,
            table: WriteProperties::default(),
        }
    }

    /// These settings for a table whose properties say `table`: its target file size and
    /// row-group size win over the configured ones.
    pub fn for_table(&self, table: WriteProperties) -> Self {
        let target_file_size_bytes =
            table.target_file_size_bytes.unwrap_or(self.target_file_size_bytes);
        let row_group_bytes = match (table.row_group_bytes, table.target_file_size_bytes) {
            (Some(bytes), _) => bytes,
            (None, Some(target)) => roll::row_group_bytes(target, MAX_ROW_GROUP_BYTES),
            (None, None) => self.row_group_bytes,
        };
        Self { target_file_size_bytes, row_group_bytes, table, ..self.clone() }
    }

    /// The settings of each file written for a group of `expected_rows` input rows: the
    /// table's codec (else ZSTD), page and dictionary sizes, and bloom filters (`trace_id`'s as
    /// configured unless the table sets it).
    pub fn file_settings(&self, expected_rows: u64) -> FileSettings {
        let mut bloom = self.table.bloom_filters.clone();
        bloom.entry(props::TRACE_ID_COLUMN.to_string()).or_insert(self.trace_id_bloom_filter);
        FileSettings {
            row_group_rows: self.row_group_rows,
            row_group_bytes: self.row_group_bytes,
            page_bytes: self.table.page_bytes,
            page_rows: self.table.page_rows,
            dictionary_bytes: self.table.dictionary_bytes,
            expected_rows,
            codec: self.table.codec.unwrap_or_else(props::default_codec),
            tuned_encodings: self.tuned_encodings,
            column_levels: !self.table.codec_level_set,
            bloom_filter_columns: bloom.into_iter().filter(|(_, on)| *on).map(|(c, _)| c).collect(),
        }
    }
}

impl RewriteSettings {
    /// The Parquet writer properties these settings give an unsorted file of Arrow `schema`
    /// (whose fields carry Iceberg field ids) holding up to `rows` rows: for tools that write
    /// files the way compaction does without an Iceberg table (the benchmark's baseline).
    pub fn writer_properties_for(
        &self,
        schema: &arrow_schema::Schema,
        rows: u64,
    ) -> Result<parquet::file::properties::WriterProperties, iceberg::Error> {
        let schema = iceberg::arrow::arrow_schema_to_schema(schema)?;
        Ok(props::writer_properties(&self.file_settings(rows), &schema, None))
    }
}

/// What a successful rewrite produced.
#[derive(Debug, Clone)]
pub(crate) struct RewriteOutput {
    /// The new data files, with partition and column statistics, not yet in any snapshot.
    pub files: Vec<DataFile>,
    /// Rows read from the inputs.
    pub rows_read: u64,
    /// Rows written to `files`.
    pub rows_written: u64,
    /// Size of the inputs, as the manifests state it (the tests check it against the plan).
    #[cfg_attr(not(test), allow(dead_code))]
    pub bytes_read: u64,
    /// Sorted runs the rewrite spilled to disk (0 when unsorted or sorted in memory).
    pub spilled_runs: usize,
    /// How the files were written.
    pub method: Method,
    /// Why a group planned to be copied was decoded instead, when it was.
    pub copy_fallback: Option<String>,
}

impl RewriteOutput {
    /// Total size of the new files.
    pub(crate) fn bytes_written(&self) -> u64 {
        self.files.iter().map(DataFile::file_size_in_bytes).sum()
    }
}

/// How many rows a group's rewrite must read and write: the inputs' record counts according
/// to the manifests, less at most what their delete files can remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowBounds {
    /// Fewest rows: `max` less every position the group's position deletes name, 0 when an
    /// equality delete applies, `max` without deletes.
    pub min: u64,
    /// The inputs' record counts.
    pub max: u64,
}

impl RowBounds {
    /// Exactly `rows` rows (inputs without deletes).
    pub(crate) fn exact(rows: u64) -> Self {
        Self { min: rows, max: rows }
    }

    /// The bounds of `group`'s rewrite.
    pub(crate) fn of(group: &FileGroup) -> Self {
        if group.delete_files.is_empty() {
            Self::exact(group.rows)
        } else {
            Self { min: group.min_rows.min(group.rows), max: group.rows }
        }
    }

    /// Whether `read` rows read and `written` written fit the bounds.
    fn fit(self, read: u64, written: u64) -> bool {
        read == written && (self.min..=self.max).contains(&read)
    }
}

impl From<u64> for RowBounds {
    fn from(rows: u64) -> Self {
        Self::exact(rows)
    }
}

/// Rewrites the files of `group` (all of `partition` of `table`'s current snapshot) into
/// new files of the same partition, their rows in `order` when set.
#[cfg(test)]
pub(crate) async fn rewrite_group(
    table: &Table,
    group: &FileGroup,
    partition: TimePartition,
    settings: &RewriteSettings,
    order: Option<&OutputOrder>,
) -> Result<RewriteOutput, RewriteError> {
    let paths = group.files.iter().map(String::as_str);
    let mut tasks = scan_tasks(table, paths, &ManifestCache::new()).await?;
    let tasks = take_group_tasks(&mut tasks, group)?;
    let (rows, planned) = (RowBounds::of(group), group.planned_output());
    rewrite_tasks(table, tasks, rows, planned, partition, settings, order).await
}

/// Rewrites the files of `tasks`, whose rows (their deletes applied) `expected_rows` bounds,
/// into new files of `partition` as `planned` expects them, their rows in `order`
/// across the files when set. On any error every file written so far is deleted.
pub(crate) async fn rewrite_tasks(
    table: &Table,
    tasks: Vec<FileScanTask>,
    expected_rows: impl Into<RowBounds>,
    planned: impl Into<PlannedOutput>,
    partition: TimePartition,
    settings: &RewriteSettings,
    order: Option<&OutputOrder>,
) -> Result<RewriteOutput, RewriteError> {
    let written = Arc::new(Mutex::new(Vec::new()));
    let planned = planned.into();
    let result = write_all(table, tasks, planned, partition, settings, order, &written);
    checked(table.file_io(), expected_rows.into(), &written, result).await
}

/// The output of `write`, which writes the files of a group whose rows `expected_rows` bounds
/// and records each location it hands out in `written`, once its rows are checked: on
/// a mismatch or any other error every file written is deleted.
pub(super) async fn checked(
    file_io: &FileIO,
    expected_rows: RowBounds,
    written: &Mutex<Vec<String>>,
    write: impl std::future::Future<Output = Result<RewriteOutput, RewriteError>>,
) -> Result<RewriteOutput, RewriteError> {
    let result = write.await.and_then(|out| {
        if expected_rows.fit(out.rows_read, out.rows_written) {
            Ok(out)
        } else {
            Err(RewriteError::RowCountMismatch {
                expected: expected_rows.max,
                min: expected_rows.min,
                read: out.rows_read,
                written: out.rows_written,
            })
        }
    });
    if result.is_err() {
        let locations = std::mem::take(&mut *written.lock().unwrap_or_else(|e| e.into_inner()));
        delete_files(file_io, &locations).await;
    }
    result
}

async fn write_all(
    table: &Table,
    tasks: Vec<FileScanTask>,
    planned: PlannedOutput,
    partition: TimePartition,
    settings: &RewriteSettings,
    order: Option<&OutputOrder>,
    written: &Arc<Mutex<Vec<String>>>,
) -> Result<RewriteOutput, RewriteError> {
    let md = table.metadata();
    let schema = md.current_schema().clone();
    let (directory, key) = output_partition(md, partition)?;
    let dir = directory.dir().to_string();
    let write_err = |e| RewriteError::Write { dir: dir.clone(), source: Box::new(e) };
    let arrow_schema =
        Arc::new(iceberg::arrow::schema_to_arrow_schema(&schema).map_err(write_err)?);

    let input = tasks.iter().fold((0, 0), |(bytes, rows), t| {
        (bytes + t.file_size_in_bytes, rows + t.record_count.unwrap_or(0))
    });
    let props = props::writer_properties(&settings.file_settings(input.1), &schema, order);
    let parquet = ParquetWriterBuilder::new(props, schema.clone());
    let names = props::file_names();
    let locations = TrackedLocations { directory, written: Arc::clone(written) };
    // Files are rolled by `SizedFiles`, never by iceberg's writer.
    let rolling = RollingFileWriterBuilder::new(
        parquet,
        usize::MAX,
        table.file_io().clone(),
        locations,
        names,
    );
    let target = settings.target_file_size_bytes;
    let sort_order_id = order.and_then(|o| o.sort_order_id).and_then(|id| i32::try_from(id).ok());
    let rows = settings.row_group_rows;
    // The first file's rows are sized at the bytes a row is expected to take once written.
    let expected = (planned.bytes.unwrap_or(input.0), input.1);
    let mut writer =
        SizedFiles::new(rolling, key, (target, planned.files), sort_order_id, rows, expected);
    let mut sort = match order {
        Some(order) => Some(
            ExternalSort::new(
                Arc::clone(&arrow_schema),
                &order.columns,
                settings.sort.clone(),
                settings.batch_rows,
            )?
            .compress_spills(input.0 > COMPRESSED_SPILLS_FROM_BYTES),
        ),
        None => None,
    };

    let (mut rows_read, mut bytes_read) = (0u64, 0u64);
    let reader = read::group_reader(table, settings.batch_rows);
    // The next inputs are fetched while this one decodes: against an object store, waiting
    // for one file at a time would make the rewrite as slow as its requests' latency.
    let read_ahead = read::read_ahead(&tasks);
    let mut fetches = Vec::with_capacity(tasks.len());
    for task in tasks {
        let path = task.data_file_path.clone();
        let table = table.clone();
        // Each fetch is a task of its own, started when the window reaches it: it reads its
        // whole answer whatever the decoder is doing, so it never holds one of the store's
        // request slots while waiting to be polled. Dropping the rewrite aborts the fetches.
        fetches.push(async move {
            let fetch = RequestTally::carry(async move { read::fetch(&table, task).await });
            match AbortOnDropHandle::new(tokio::spawn(fetch)).await {
                Ok(fetched) => {
                    fetched.map_err(|e| RewriteError::Read { path, source: Box::new(e) })
                }
                Err(e) => Err(RewriteError::Task(e.to_string())),
            }
        });
    }
    let mut inputs = stream::iter(fetches).buffered(read_ahead);
    while let Some(input) = inputs.try_next().await? {
        let path = input.task.data_file_path.clone();
        bytes_read += input.task.file_size_in_bytes;
        let read_err = |e| RewriteError::Read { path: path.clone(), source: Box::new(e) };
        let mut batches =
            read::decode(&reader, input, &arrow_schema, settings.batch_rows).map_err(read_err)?;
        while let Some(batch) = batches.try_next().await.map_err(read_err)? {
            rows_read += batch.num_rows() as u64;
            match &mut sort {
                Some(sort) => sort.push(&batch)?,
                None => writer.write(&batch).await.map_err(write_err)?,
            }
        }
    }
    let mut spilled_runs = 0;
    if let Some(sort) = sort {
        spilled_runs = sort.spilled_runs();
        let mut sorted = sort.finish()?;
        while let Some(batch) = sorted.next_batch()? {
            writer.write(&batch).await.map_err(write_err)?;
        }
    }
    let files = writer.close().await.map_err(write_err)?;
    let rows_written = files.iter().map(DataFile::record_count).sum();
    let method = if order.is_some() { Method::Sort } else { Method::Rewrite };
    Ok(RewriteOutput {
        files,
        rows_read,
        rows_written,
        bytes_read,
        spilled_runs,
        method,
        copy_fallback: None,
    })
}

/// Deletes `locations`, logging (not failing on) each file that cannot be deleted: what is
/// left is referenced by no snapshot and found by orphan cleanup.
pub(crate) async fn delete_files(file_io: &FileIO, locations: &[String]) {
    delete_quietly(file_io, locations, "a file of an abandoned compaction").await;
}

/// Where the files of `partition` go in `md`'s current partition spec, and their partition
/// key: the directory is named after the spec's time field (`timestamp_hour=2024-03-05-10`).
pub(super) fn output_partition(
    md: &TableMetadata,
    partition: TimePartition,
) -> Result<(PartitionDirectory, PartitionKey), RewriteError> {
    let refused = |reason: String| RewriteError::Partition { partition: partition.label(), reason };
    let field = current_time_field(md).map_err(|e| refused(e.to_string()))?;
    if field.grain != partition.grain {
        let reason = format!("the current spec's `{}` is by {}", field.name, field.grain.as_str());
        return Err(refused(reason));
    }
    let value = partition.to_struct().map_err(|e| refused(e.to_string()))?;
    let spec = md.default_partition_spec().as_ref().clone();
    let key = PartitionKey::new(spec, md.current_schema().clone(), value);
    Ok((PartitionDirectory::new(md.location(), &field.name, partition), key))
}

/// The partition's directory, remembering every location handed out so that a failed rewrite
/// can delete what it wrote.
#[derive(Debug, Clone)]
pub(super) struct TrackedLocations {
    /// The partition's directory.
    pub(super) directory: PartitionDirectory,
    /// Every location handed out.
    pub(super) written: Arc<Mutex<Vec<String>>>,
}

impl LocationGenerator for TrackedLocations {
    fn generate_location(&self, partition_key: Option<&PartitionKey>, file_name: &str) -> String {
        let location = self.directory.generate_location(partition_key, file_name);
        self.written.lock().unwrap_or_else(|e| e.into_inner()).push(location.clone());
        location
    }
}
