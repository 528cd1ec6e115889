//! The Parquet writer settings of every file compaction writes, and the names of those files.
//!
//! Both the rewrite and the row-group copy write with these settings, and the copy accepts
//! only inputs whose chunks use the same codec, so that a table's compacted files read alike.
//! The codec, row-group and page sizes and bloom filters are the table's `write.*` properties
//! where it sets them ([`super::write_props`]), else the configuration's; with
//! `tuned_encodings` each column's dictionary and zstd level are chosen by what it holds
//! ([`super::encodings`]).

use iceberg::spec::{DataFileFormat, Schema};
use iceberg::writer::file_writer::location_generator::DefaultFileNameGenerator;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::encodings;
use super::order::OutputOrder;

/// Prefix of every file compaction writes; the rest of the name is a UUID and a counter.
pub(crate) const COMPACTED_FILE_PREFIX: &str = "compacted";

/// The column a bloom filter is written for, when the table has it.
pub(crate) const TRACE_ID_COLUMN: &str = "trace_id";

/// False-positive probability of the `trace_id` bloom filter (the filter is folded to the
/// smallest size that keeps it, given the row group's distinct values).
pub(crate) const BLOOM_FILTER_FPP: f64 = 0.01;

/// The codec of compacted files' column chunks when the table names none: zstd (at its
/// default level, or a level per column with `tuned_encodings`).
pub(crate) fn default_codec() -> Compression {
    Compression::ZSTD(ZstdLevel::default())
}

/// Fewest and most distinct values a bloom filter is sized for before it is folded down to
/// what the row group needed.
const BLOOM_FILTER_NDV: (u64, u64) = (1024, 8 * 1024 * 1024);

/// Whether chunks compressed with `c` may be copied into a file written with `output`: the
/// same codec (its level only matters to the writer).
pub(crate) fn is_output_codec(c: Compression, output: Compression) -> bool {
    std::mem::discriminant(&c) == std::mem::discriminant(&output)
}

/// What a compacted file is written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    /// Most rows in one row group; `None` bounds row groups by bytes only.
    pub row_group_rows: Option<usize>,
    /// Most (estimated, encoded) bytes in one row group.
    pub row_group_bytes: usize,
    /// Most bytes of one data page (`write.parquet.page-size-bytes`); `None`: Parquet's 1 MiB.
    pub page_bytes: Option<usize>,
    /// Most rows of one data page (`write.parquet.page-row-limit`); `None`: Parquet's 20,000.
    pub page_rows: Option<usize>,
    /// Most bytes of a column's dictionary before it falls back to plain values
    /// (`write.parquet.dict-size-bytes`); `None`: Parquet's 1 MiB.
    pub dictionary_bytes: Option<usize>,
    /// Rows of the group written (its input rows): bloom filters are sized for that many
    /// distinct values, or a row group's most rows when fewer, then folded down.
    pub expected_rows: u64,
    /// The column chunks' codec.
    pub codec: Compression,
    /// Whether each column gets the dictionary and zstd level that suit it
    /// ([`super::encodings`]), else Parquet's defaults.
    pub tuned_encodings: bool,
    /// Whether each column gets its own zstd level when tuned and `codec` is zstd: true unless
    /// the table names the level.
    pub column_levels: bool,
    /// Columns that get a bloom filter (those the file's schema has).
    pub bloom_filter_columns: Vec<String>,
}

/// The writer properties of a compacted file of `schema`, its rows in `order` when set: the
/// settings' codec, row groups and pages bounded as `settings` says, each column's
/// dictionary and zstd level when tuned ([`encodings::column_encodings`]), page-level
/// statistics (column and offset indexes) on every column and always on the sort columns,
/// and bloom filters on the settings' columns.
pub(crate) fn writer_properties(
    settings: &FileSettings,
    schema: &Schema,
    order: Option<&OutputOrder>,
) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(settings.codec)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(settings.row_group_rows.map(|rows| rows.max(1)))
        .set_max_row_group_bytes(Some(settings.row_group_bytes.max(1)))
        .set_created_by(concat!("signaldb-compactor ", env!("CARGO_PKG_VERSION")).to_string());
    if let Some(bytes) = settings.page_bytes {
        builder = builder.set_data_page_size_limit(bytes.max(1));
    }
    if let Some(rows) = settings.page_rows {
        builder = builder.set_data_page_row_count_limit(rows.max(1));
    }
    if let Some(bytes) = settings.dictionary_bytes {
        builder = builder.set_dictionary_page_size_limit(bytes.max(1));
    }
    let column_levels = settings.tuned_encodings
        && settings.column_levels
        && matches!(settings.codec, Compression::ZSTD(_));
    if column_levels && let Ok(level) = ZstdLevel::try_new(encodings::FAST_LEVEL) {
        builder = builder.set_compression(Compression::ZSTD(level));
    }
    let tuned =
        if settings.tuned_encodings { encodings::column_encodings(schema) } else { Vec::new() };
    for (column, encoding) in tuned {
        let path = ColumnPath::from(column.as_str());
        builder = builder.set_column_dictionary_enabled(path.clone(), encoding.dictionary);
        if column_levels && let Ok(level) = ZstdLevel::try_new(encoding.zstd_level) {
            builder = builder.set_column_compression(path, Compression::ZSTD(level));
        }
    }
    for column in order.map(|o| o.columns.as_slice()).unwrap_or_default() {
        let path = ColumnPath::from(column.column.as_str());
        builder = builder.set_column_statistics_enabled(path, EnabledStatistics::Page);
    }
    for column in &settings.bloom_filter_columns {
        if schema.field_by_name(column).is_none() {
            continue;
        }
        let path = ColumnPath::from(column.as_str());
        let rows = settings.row_group_rows.map_or(u64::MAX, |r| r as u64);
        let ndv = settings.expected_rows.min(rows).clamp(BLOOM_FILTER_NDV.0, BLOOM_FILTER_NDV.1);
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

#[cfg(test)]
mod tests {
    use common::table_kind::TableKind;

    use super::*;
    use crate::compaction::encodings::{FAST_LEVEL, TEXT_LEVEL};
    use crate::compaction::order::{OrderSource, SortColumn};

    fn settings(codec: Compression, column_levels: bool) -> FileSettings {
        FileSettings { tuned_encodings: true, ..untuned(codec, column_levels) }
    }

    fn untuned(codec: Compression, column_levels: bool) -> FileSettings {
        FileSettings {
            row_group_rows: None,
            row_group_bytes: 64 << 20,
            page_bytes: None,
            page_rows: Some(5000),
            dictionary_bytes: None,
            expected_rows: 10,
            codec,
            tuned_encodings: false,
            column_levels,
            bloom_filter_columns: vec![TRACE_ID_COLUMN.to_string()],
        }
    }

    fn zstd(level: i32) -> Compression {
        Compression::ZSTD(ZstdLevel::try_new(level).unwrap())
    }

    #[test]
    fn each_column_gets_its_encoding_level_and_the_file_its_limits() {
        let schema = common::tables::schema(TableKind::Traces).unwrap();
        let order = OutputOrder {
            columns: ["trace_id", "timestamp"]
                .map(|c| SortColumn { column: c.into(), descending: false, nulls_first: true })
                .to_vec(),
            source: OrderSource::Config,
            sort_order_id: None,
            table_order_ignored: None,
        };
        let props = writer_properties(&settings(default_codec(), true), &schema, Some(&order));
        let col = |c: &str| ColumnPath::from(c);
        assert_eq!(props.max_row_group_row_count(), None, "row groups bounded by bytes only");
        let bloom = props.bloom_filter_properties(&col("trace_id")).unwrap();
        assert_eq!(bloom.ndv, BLOOM_FILTER_NDV.0, "10 rows: the smallest filter");
        assert_eq!(props.max_row_group_bytes(), Some(64 << 20));
        assert_eq!(props.data_page_row_count_limit(), 5000);
        for plain in ["trace_id", "timestamp", "duration_ns"] {
            assert!(!props.dictionary_enabled(&col(plain)), "{plain}");
            assert_eq!(props.encoding(&col(plain)), None, "{plain}: written plain");
            assert_eq!(props.compression(&col(plain)), zstd(FAST_LEVEL), "{plain}");
        }
        assert!(props.dictionary_enabled(&col("service_name")));
        assert_eq!(props.compression(&col("attributes")), zstd(TEXT_LEVEL));
        assert!(props.bloom_filter_properties(&col("trace_id")).is_some());
        assert!(props.bloom_filter_properties(&col("span_id")).is_none());

        // A level the table names applies to every column; another codec too.
        let props = writer_properties(&settings(zstd(3), false), &schema, None);
        assert_eq!(props.compression(&col("trace_id")), zstd(3));
        assert_eq!(props.compression(&col("attributes")), zstd(3));
        assert!(!props.dictionary_enabled(&col("trace_id")), "dictionaries as chosen");
        let props = writer_properties(&settings(Compression::SNAPPY, true), &schema, None);
        assert_eq!(props.compression(&col("attributes")), Compression::SNAPPY);

        // Untuned: Parquet's defaults, the codec as given.
        let props = writer_properties(&untuned(default_codec(), true), &schema, None);
        assert!(props.dictionary_enabled(&col("trace_id")));
        assert_eq!(props.compression(&col("attributes")), default_codec());
    }
}
