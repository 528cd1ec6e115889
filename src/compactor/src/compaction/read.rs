//! Reading one input file of a rewrite as record batches of the table's current schema.
//!
//! Most inputs are small files fresh from ingestion, written with the table's current schema
//! and no delete files. Such a file is fetched with one request and decoded directly by
//! arrow-rs, which skips the per-file setup of iceberg's reader (projection, schema
//! reconciliation, ranged footer and column reads); everything else (large files, delete
//! files, files of an older schema) goes through iceberg's reader, which handles them all.
//!
//! A rewrite fetches its inputs ahead of the decoder ([`fetch`], [`read_ahead`]): up to
//! [`READ_AHEAD_FILES`] requests in flight and [`READ_AHEAD_BYTES`] of whole files held, so
//! that the object store's latency is paid once per window, not once per file. The rewrite
//! runs each fetch as a task of its own, which reads its whole answer whatever the decoder is
//! doing and is aborted when the rewrite is dropped (a failure, a cancellation); reading
//! writes nothing that could be left behind.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema as ArrowSchema, SchemaRef as ArrowSchemaRef};
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use iceberg::arrow::ArrowReader;
use iceberg::scan::FileScanTask;
use iceberg::table::Table;
use iceberg::{Error as IcebergError, ErrorKind};
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Largest input read whole into memory and decoded directly; larger ones stream through
/// iceberg's reader, a row group at a time.
pub(crate) const WHOLE_FILE_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// iceberg's reader for the inputs of one group, one file at a time, `batch_rows` rows at most
/// per batch. Its clones share the delete files they load: a delete file that applies to
/// several inputs of the group (an equality delete, a partition-scoped position delete) is
/// read once per group, not once per input.
pub(crate) fn group_reader(table: &Table, batch_rows: usize) -> ArrowReader {
    table
        .reader_builder()
        .with_batch_size(batch_rows.max(1))
        .with_data_file_concurrency_limit(1)
        .build()
}

/// Inputs fetched ahead of the decoder at most: enough to hide an object store's latency
/// behind the decoding of earlier inputs (the store's own request limit bounds the total).
pub(crate) const READ_AHEAD_FILES: usize = 16;

/// Most bytes of whole inputs fetched ahead of the decoder, per group: bounds the memory
/// the read-ahead takes whatever the inputs' sizes.
pub(crate) const READ_AHEAD_BYTES: u64 = 32 * 1024 * 1024;

/// One input of a group, fetched: a small file without deletes is read whole (`bytes`),
/// any other is left to iceberg's reader.
pub(crate) struct Fetched {
    /// The input.
    pub(crate) task: FileScanTask,
    /// The whole file, when it is decoded directly.
    bytes: Option<Bytes>,
}

/// Whether `task`'s file is fetched whole and decoded directly.
fn whole(task: &FileScanTask) -> bool {
    task.deletes.is_empty() && task.file_size_in_bytes <= WHOLE_FILE_MAX_BYTES
}

/// How many inputs of `tasks` are fetched at once: [`READ_AHEAD_FILES`] at most, fewer when
/// that many of the largest whole input would pass [`READ_AHEAD_BYTES`]; at least 1.
pub(crate) fn read_ahead(tasks: &[FileScanTask]) -> usize {
    let largest = tasks.iter().filter(|t| whole(t)).map(|t| t.file_size_in_bytes).max();
    let fit = largest.map_or(READ_AHEAD_FILES as u64, |b| READ_AHEAD_BYTES / b.max(1));
    usize::try_from(fit).unwrap_or(usize::MAX).clamp(1, READ_AHEAD_FILES)
}

/// Fetches `task`'s file when it is decoded directly (one request for the whole file);
/// other inputs are read later, by iceberg's reader.
pub(crate) async fn fetch(table: &Table, task: FileScanTask) -> iceberg::Result<Fetched> {
    let bytes = match whole(&task) {
        true => Some(table.file_io().new_input(&task.data_file_path)?.read().await?),
        false => None,
    };
    Ok(Fetched { task, bytes })
}

/// The batches of a fetched input, `batch_rows` rows at most each, with `arrow_schema` (the
/// table's current schema, field ids included) as their schema; `reader` ([`group_reader`])
/// reads the files that are not decoded directly.
pub(crate) fn decode(
    reader: &ArrowReader,
    input: Fetched,
    arrow_schema: &ArrowSchemaRef,
    batch_rows: usize,
) -> iceberg::Result<BoxStream<'static, iceberg::Result<RecordBatch>>> {
    let batch_rows = batch_rows.max(1);
    if let Some(bytes) = input.bytes {
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(parquet_err)?;
        if fields_match(builder.schema(), arrow_schema) {
            let reader = builder.with_batch_size(batch_rows).build().map_err(parquet_err)?;
            let schema = Arc::clone(arrow_schema);
            let batches = reader.map(move |batch| {
                let batch = batch.map_err(|e| arrow_err("decoding", e))?;
                with_schema(&schema, batch)
            });
            return Ok(stream::iter(batches).boxed());
        }
    }
    let schema = Arc::clone(arrow_schema);
    let one = stream::iter([Ok(input.task)]);
    let batches = reader.clone().read(Box::pin(one))?.stream();
    // The reader's schema may lack the field ids the writer matches columns by.
    Ok(batches.and_then(move |batch| std::future::ready(with_schema(&schema, batch))).boxed())
}

/// `batch`'s columns under `schema`.
fn with_schema(schema: &ArrowSchemaRef, batch: RecordBatch) -> iceberg::Result<RecordBatch> {
    RecordBatch::try_new(Arc::clone(schema), batch.columns().to_vec())
        .map_err(|e| arrow_err("rows do not fit the table's current schema", e))
}

/// Whether a file whose arrow schema is `file` holds exactly the columns of `table`, in the
/// same order, with the same types, nullability and field ids: then its batches need no
/// projection or conversion.
fn fields_match(file: &ArrowSchema, table: &ArrowSchema) -> bool {
    let field_id = |f: &Field| f.metadata().get(PARQUET_FIELD_ID_META_KEY).cloned();
    file.fields().len() == table.fields().len()
        && file.fields().iter().zip(table.fields().iter()).all(|(f, t)| {
            f.name() == t.name()
                && f.data_type() == t.data_type()
                && f.is_nullable() == t.is_nullable()
                && field_id(f).is_some()
                && field_id(f) == field_id(t)
        })
}

fn parquet_err(e: parquet::errors::ParquetError) -> IcebergError {
    IcebergError::new(ErrorKind::DataInvalid, "reading a Parquet file").with_source(e)
}

fn arrow_err(context: &'static str, e: arrow_schema::ArrowError) -> IcebergError {
    IcebergError::new(ErrorKind::DataInvalid, context).with_source(e)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow_schema::DataType;

    use super::*;

    fn field(name: &str, data_type: DataType, id: Option<&str>) -> Field {
        let metadata = id
            .map(|id| HashMap::from([(PARQUET_FIELD_ID_META_KEY.to_string(), id.to_string())]))
            .unwrap_or_default();
        Field::new(name, data_type, true).with_metadata(metadata)
    }

    #[test]
    fn fields_match_by_name_type_and_field_id() {
        let table = ArrowSchema::new(vec![
            field("a", DataType::Utf8, Some("1")),
            field("b", DataType::Int64, Some("2")),
        ]);
        assert!(fields_match(&table.clone(), &table));
        let renamed = ArrowSchema::new(vec![
            field("a", DataType::Utf8, Some("1")),
            field("c", DataType::Int64, Some("2")),
        ]);
        assert!(!fields_match(&renamed, &table));
        let retyped = ArrowSchema::new(vec![
            field("a", DataType::LargeUtf8, Some("1")),
            field("b", DataType::Int64, Some("2")),
        ]);
        assert!(!fields_match(&retyped, &table));
        let other_ids = ArrowSchema::new(vec![
            field("a", DataType::Utf8, Some("1")),
            field("b", DataType::Int64, Some("3")),
        ]);
        assert!(!fields_match(&other_ids, &table));
        let no_ids = ArrowSchema::new(vec![
            field("a", DataType::Utf8, None),
            field("b", DataType::Int64, None),
        ]);
        assert!(!fields_match(&no_ids, &no_ids));
        let fewer = ArrowSchema::new(vec![field("a", DataType::Utf8, Some("1"))]);
        assert!(!fields_match(&fewer, &table));
    }

    #[tokio::test]
    async fn files_written_with_the_current_schema_take_the_direct_path() {
        use crate::test_support::{BASE_HOUR, Fixture, paths_of_hour};
        let fx = Fixture::new().await;
        fx.fill(&[BASE_HOUR], 1, 10).await;
        let table = fx.load().await;
        let path = paths_of_hour(&table, BASE_HOUR).await.remove(0);
        let bytes = table.file_io().new_input(&path).unwrap().read().await.unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let schema = table.metadata().current_schema();
        let arrow = iceberg::arrow::schema_to_arrow_schema(schema).unwrap();
        assert!(fields_match(builder.schema(), &arrow), "{:?}", builder.schema());
    }
}
