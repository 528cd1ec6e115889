//! Writing one generated batch as a Parquet data file of a table's hour partition, and
//! committing an hour's files with one Iceberg fast append.
//!
//! The partition directory is named after the table's own partition field (`hour=` in the
//! classic layout, `timestamp_hour=` in SignalDB's), and the Parquet settings follow the
//! table's properties: its zstd level and the columns it asks bloom filters for.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use common::catalog::SignalCatalog;
use common::partition::{Grain, PartitionDirectory, TimePartition, hour_label};
use common::tables::{HOUR_PARTITION_FIELD, TableId};
use iceberg::spec::{DataFile, DataFileFormat, PartitionKey};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::DefaultFileNameGenerator;
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

/// Table property prefix naming a column to write a Parquet bloom filter for.
const BLOOM_FILTER_PREFIX: &str = "write.parquet.bloom-filter-enabled.column.";
/// Table property holding the zstd level.
const COMPRESSION_LEVEL: &str = "write.parquet.compression-level";

/// The Parquet writer settings `table`'s properties ask for.
fn writer_properties(table: &Table) -> WriterProperties {
    let props = table.metadata().properties();
    let level = props
        .get(COMPRESSION_LEVEL)
        .and_then(|l| l.parse().ok())
        .and_then(|l| ZstdLevel::try_new(l).ok())
        .unwrap_or_default();
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_created_by(concat!("signaldb-loadgen ", env!("CARGO_PKG_VERSION")).to_string());
    let mut bloom: Vec<&str> = props
        .iter()
        .filter(|(_, v)| v.as_str() == "true")
        .filter_map(|(k, _)| k.strip_prefix(BLOOM_FILTER_PREFIX))
        .collect();
    bloom.sort_unstable();
    for column in bloom {
        builder = builder.set_column_bloom_filter_enabled(ColumnPath::from(column), true);
    }
    builder.build()
}

/// Writes `batch` (rows of `hour` only, on the table's Arrow schema) as data file(s) of
/// `hour`'s partition and returns them, statistics and partition filled in.
pub async fn write_file(
    table: &Table,
    id: &TableId,
    hour: i64,
    file_index: u32,
    batch: RecordBatch,
) -> Result<Vec<DataFile>> {
    let md = table.metadata();
    let schema = md.current_schema().clone();
    let spec = md.default_partition_spec();
    let (field, partition) = match spec.fields() {
        [field] => (field.name.as_str(), Grain::of_transform(field.transform)),
        _ => (HOUR_PARTITION_FIELD, None),
    };
    let Some(partition) = partition.and_then(|grain| TimePartition::hour(hour).within(grain))
    else {
        anyhow::bail!("{id} is not partitioned by hour or day of its timestamp alone");
    };
    let parquet = ParquetWriterBuilder::new(writer_properties(table), schema.clone());
    let directory = PartitionDirectory::new(md.location(), field, partition);
    let dir = directory.dir().to_string();
    let names = DefaultFileNameGenerator::new(
        format!("loadgen-f{file_index:04}-{}", uuid::Uuid::now_v7()),
        None,
        DataFileFormat::Parquet,
    );
    let rolling = RollingFileWriterBuilder::new_with_default_file_size(
        parquet,
        table.file_io().clone(),
        directory,
        names,
    );
    let key = PartitionKey::new(spec.as_ref().clone(), schema, partition.to_struct()?);
    let context = || format!("write data file of {id} under {dir}");
    let mut writer =
        DataFileWriterBuilder::new(rolling).build(Some(key)).await.with_context(context)?;
    writer.write(batch).await.with_context(context)?;
    writer.close().await.with_context(context)
}

/// Commits `files` (all of `hour`) to `table` with one fast append and returns the table as of
/// the new snapshot. Concurrent commits by other writers are retried by the transaction.
pub async fn append(
    catalog: &SignalCatalog,
    table: &Table,
    id: &TableId,
    hour: i64,
    files: Vec<DataFile>,
) -> Result<Table> {
    let count = files.len();
    let tx = Transaction::new(table);
    // File names carry a fresh UUID, so the duplicate check (which reads every manifest of the
    // current snapshot, slower with each commit) can never find anything.
    let action = tx.fast_append().with_check_duplicate(false).add_data_files(files);
    let tx = action.apply(tx).with_context(|| format!("prepare append to {id}"))?;
    tx.commit(catalog.catalog()).await.with_context(|| {
        format!(
            "commit {count} file(s) of hour={} to {id} (metadata {})",
            hour_label(hour),
            table.metadata_location().unwrap_or("<none>")
        )
    })
}

/// The data files' total row count.
pub fn record_count(files: &[DataFile]) -> u64 {
    files.iter().map(DataFile::record_count).sum()
}

/// The Arrow schema of `table`'s current Iceberg schema, with Parquet field ids.
pub fn arrow_schema(table: &Table) -> Result<arrow_schema::SchemaRef> {
    let schema = iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema())
        .context("convert table schema to Arrow")?;
    Ok(Arc::new(schema))
}
