//! Writing one generated batch as a Parquet data file of a table's hour partition, and
//! committing an hour's files with one Iceberg fast append.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use chrono::DateTime;
use common::catalog::SignalCatalog;
use common::tables::TableId;
use iceberg::spec::{DataFile, DataFileFormat, Literal, PartitionKey, Struct};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{DefaultFileNameGenerator, LocationGenerator};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// `YYYY-MM-DD-HH` of an hour since the epoch: the partition directory's value, as Iceberg's
/// human form of the `hour` transform (and Spark/pyiceberg paths) spell it.
pub fn hour_label(hour: i64) -> String {
    DateTime::from_timestamp(hour * 3_600, 0)
        .map(|t| t.format("%Y-%m-%d-%H").to_string())
        .unwrap_or_else(|| hour.to_string())
}

/// Places every file of one hour under `{table location}/data/hour=YYYY-MM-DD-HH/`.
///
/// iceberg-rust's default generator would name the directory after the raw partition value
/// (`hour=473352`); readers do not care, but people listing the warehouse do.
#[derive(Debug, Clone)]
pub struct HourDirectory {
    dir: String,
}

impl HourDirectory {
    /// The directory of `hour` in `table`.
    pub fn new(table: &Table, hour: i64) -> Self {
        let location = table.metadata().location().trim_end_matches('/');
        Self { dir: format!("{location}/data/hour={}", hour_label(hour)) }
    }
}

impl LocationGenerator for HourDirectory {
    fn generate_location(&self, _partition_key: Option<&PartitionKey>, file_name: &str) -> String {
        format!("{}/{file_name}", self.dir)
    }
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
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(concat!("signaldb-loadgen ", env!("CARGO_PKG_VERSION")).to_string())
        .build();
    let parquet = ParquetWriterBuilder::new(props, schema.clone());
    let directory = HourDirectory::new(table, hour);
    let dir = directory.dir.clone();
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
    let partition = Struct::from_iter([Some(Literal::int(hour_i32(hour)?))]);
    let key = PartitionKey::new(md.default_partition_spec().as_ref().clone(), schema, partition);
    let context = || format!("write data file of {id} under {dir}");
    let mut writer = DataFileWriterBuilder::new(rolling).build(Some(key)).await.with_context(context)?;
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

fn hour_i32(hour: i64) -> Result<i32> {
    i32::try_from(hour).with_context(|| format!("hour {hour} is outside Iceberg's int range"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_labels_are_iceberg_human_hours() {
        assert_eq!(hour_label(0), "1970-01-01-00");
        // 2024-01-01T00:00:00Z
        assert_eq!(hour_label(473_352), "2024-01-01-00");
        assert_eq!(hour_label(473_352 + 23), "2024-01-01-23");
    }
}
