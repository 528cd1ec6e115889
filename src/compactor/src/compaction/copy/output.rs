//! The output files of a copy: copied row groups, re-encoded remnants, footers and metrics.

use std::io::Write;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use iceberg::io::FileWrite;
use iceberg::spec::{DataFile, PartitionKey, Schema};
use iceberg::table::Table;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, FileNameGenerator, LocationGenerator,
};
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, compute_leaves};
use parquet::bloom_filter::Sbbf;
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::SchemaDescriptor;

use super::super::rewrite::TrackedLocations;
use super::input::{Pieces, parquet_error};
use super::metrics::{FileMetrics, NanCounts};

/// What every output file of a group shares.
pub(super) struct Output {
    /// The table schema.
    pub(super) schema: Arc<Schema>,
    /// Its Arrow form (field ids in the metadata), for re-encoded rows.
    pub(super) arrow: SchemaRef,
    /// Its Parquet form, which copied chunks must match.
    pub(super) parquet_schema: Arc<SchemaDescriptor>,
    /// The writer properties (the compactor's, with the Arrow schema embedded).
    pub(super) props: Arc<WriterProperties>,
    /// The partition.
    pub(super) key: PartitionKey,
    /// Where files go, remembered for clean-up.
    pub(super) locations: TrackedLocations,
    /// Their names.
    pub(super) names: DefaultFileNameGenerator,
}

/// The output file being written: the Parquet writer fills `buffer`, drained to `sink`
/// after each row group.
pub(super) struct OpenFile {
    location: String,
    writer: SerializedFileWriter<SharedBuffer>,
    buffer: SharedBuffer,
    sink: Box<dyn FileWrite>,
    /// Bytes handed to `sink` so far.
    size: u64,
    /// NaN values per floating-point field of the rows written.
    pub(super) nan_counts: NanCounts,
}

/// Bytes the Parquet writer wrote and the sink has not taken yet.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn take(&self) -> Bytes {
        Bytes::from(std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner())))
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl OpenFile {
    /// Starts a new file of `out`.
    pub(super) async fn open(
        table: &Table,
        out: &Output,
        nans: NanCounts,
    ) -> iceberg::Result<Self> {
        let name = out.names.generate_file_name();
        let location = out.locations.generate_location(Some(&out.key), &name);
        let sink = table.file_io().new_output(&location)?.writer().await?;
        let buffer = SharedBuffer::default();
        let root = out.parquet_schema.root_schema_ptr();
        let writer = SerializedFileWriter::new(buffer.clone(), root, Arc::clone(&out.props))
            .map_err(parquet_error)?;
        Ok(Self { location, writer, buffer, sink, size: 0, nan_counts: nans })
    }

    /// Bytes written to the file so far.
    pub(super) fn bytes_written(&self) -> u64 {
        self.writer.bytes_written() as u64
    }

    /// Copies row group `i` of the file of `md`, whose bytes are in `pieces`, as it is.
    pub(super) async fn copy_row_group(
        &mut self,
        md: &ParquetMetaData,
        i: usize,
        pieces: &Pieces,
    ) -> iceberg::Result<()> {
        let rg = md.row_group(i);
        let column_index = md.column_index().and_then(|c| c.get(i));
        let offset_index = md.offset_index().and_then(|o| o.get(i));
        let mut group = self.writer.next_row_group().map_err(parquet_error)?;
        for (c, chunk) in rg.columns().iter().enumerate() {
            let close = ColumnCloseResult {
                bytes_written: u64::try_from(chunk.compressed_size()).unwrap_or(0),
                rows_written: u64::try_from(rg.num_rows()).unwrap_or(0),
                metadata: chunk.clone(),
                bloom_filter: Sbbf::read_from_column_chunk(chunk, pieces).map_err(parquet_error)?,
                column_index: column_index.and_then(|r| r.get(c)).cloned(),
                offset_index: offset_index.and_then(|r| r.get(c)).cloned(),
            };
            group.append_column(pieces, close).map_err(parquet_error)?;
        }
        group.close().map_err(parquet_error)?;
        self.drain().await
    }

    /// Encodes `batches` (rows of the table schema) as one new row group.
    pub(super) async fn encode_row_group(
        &mut self,
        out: &Output,
        batches: &[RecordBatch],
    ) -> iceberg::Result<()> {
        let factory = ArrowRowGroupWriterFactory::new(&self.writer, Arc::clone(&out.arrow));
        let index = self.writer.flushed_row_groups().len();
        let mut writers = factory.create_column_writers(index).map_err(parquet_error)?;
        for batch in batches {
            let mut leaves = writers.iter_mut();
            for (field, column) in out.arrow.fields().iter().zip(batch.columns()) {
                for leaf in compute_leaves(field, column).map_err(parquet_error)? {
                    let Some(writer) = leaves.next() else {
                        return Err(parquet_error(parquet::errors::ParquetError::General(
                            "more leaves than columns".into(),
                        )));
                    };
                    writer.write(&leaf).map_err(parquet_error)?;
                }
            }
        }
        let mut group = self.writer.next_row_group().map_err(parquet_error)?;
        for writer in writers {
            let chunk = writer.close().map_err(parquet_error)?;
            chunk.append_to_row_group(&mut group).map_err(parquet_error)?;
        }
        group.close().map_err(parquet_error)?;
        self.drain().await
    }

    /// Writes the footer and closes the file: its data file, metrics from the chunks.
    pub(super) async fn close(mut self, out: &Output) -> iceberg::Result<DataFile> {
        let md = self.writer.finish().map_err(parquet_error)?;
        self.drain().await?;
        self.sink.close().await?;
        let metrics =
            FileMetrics { schema: &out.schema, metadata: &md, nan_counts: &self.nan_counts };
        metrics.data_file(&self.location, self.size, &out.key)
    }

    /// Hands what the writer wrote to the sink.
    async fn drain(&mut self) -> iceberg::Result<()> {
        self.writer.flush().map_err(|e| parquet_error(e.into()))?;
        let bytes = self.buffer.take();
        self.size += bytes.len() as u64;
        self.sink.write(bytes).await
    }
}
