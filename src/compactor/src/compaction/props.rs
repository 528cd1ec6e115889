//! The Parquet writer settings of every file compaction writes, and the names of those files.
//!
//! Both the rewrite and the row-group copy write with these settings, and the copy accepts
//! only inputs whose chunks use the same codec, so that a table's compacted files read alike.
//! The codec, row-group size and bloom filters are the table's `write.*` properties where it
//! sets them ([`super::write_props`]), else the configuration's.

use iceberg::spec::{DataFileFormat, Schema};
use iceberg::writer::file_writer::location_generator::DefaultFileNameGenerator;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::order::OutputOrder;

/// Prefix of every file compaction writes; the rest of the name is a UUID and a counter.
pub(crate) const COMPACTED_FILE_PREFIX: &str = "compacted";

/// The column a bloom filter is written for, when the table has it.
pub(crate) const TRACE_ID_COLUMN: &str = "trace_id";

/// False-positive probability of the `trace_id` bloom filter (the filter is folded to the
/// smallest size that keeps it, given the row group's distinct values).
pub(crate) const BLOOM_FILTER_FPP: f64 = 0.01;

/// The codec of compacted files' column chunks when the table names none: ZSTD.
pub(crate) fn default_codec() -> Compression {
    Compression::ZSTD(ZstdLevel::default())
}

/// Whether chunks compressed with `c` may be copied into a file written with `output`: the
/// same codec (its level only matters to the writer).
pub(crate) fn is_output_codec(c: Compression, output: Compression) -> bool {
    std::mem::discriminant(&c) == std::mem::discriminant(&output)
}

/// What a compacted file is written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    /// Most rows in one row group.
    pub row_group_rows: usize,
    /// Most (estimated, encoded) bytes in one row group.
    pub row_group_bytes: usize,
    /// The column chunks' codec.
    pub codec: Compression,
    /// Columns that get a bloom filter (those the file's schema has).
    pub bloom_filter_columns: Vec<String>,
}

/// The writer properties of a compacted file of `schema`, its rows in `order` when set: the
/// settings' codec, row groups bounded as `settings` says, page-level statistics (column and
/// offset indexes) on every column and always on the sort columns, and bloom filters on the
/// settings' columns.
pub(crate) fn writer_properties(
    settings: &FileSettings,
    schema: &Schema,
    order: Option<&OutputOrder>,
) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(settings.codec)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(settings.row_group_rows.max(1)))
        .set_max_row_group_bytes(Some(settings.row_group_bytes.max(1)))
        .set_created_by(concat!("signaldb-compactor ", env!("CARGO_PKG_VERSION")).to_string());
    for column in order.map(|o| o.columns.as_slice()).unwrap_or_default() {
        let path = ColumnPath::from(column.column.as_str());
        builder = builder.set_column_statistics_enabled(path, EnabledStatistics::Page);
    }
    for column in &settings.bloom_filter_columns {
        if schema.field_by_name(column).is_none() {
            continue;
        }
        let path = ColumnPath::from(column.as_str());
        let ndv = u64::try_from(settings.row_group_rows).unwrap_or(u64::MAX);
        builder = builder
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), BLOOM_FILTER_FPP)
            .set_column_bloom_filter_ndv(path, ndv);
    }
    builder.build()
}

/// Names of the files of one group: `compacted-<uuid>-<n>.parquet`.
pub(crate) fn file_names() -> DefaultFileNameGenerator {
    DefaultFileNameGenerator::new(
        format!("{COMPACTED_FILE_PREFIX}-{}", uuid::Uuid::new_v4()),
        None,
        DataFileFormat::Parquet,
    )
}
