//! The Iceberg metrics of a file assembled from copied row groups, taken from its chunks.
//!
//! Sizes, value and null counts are sums over the row groups' column chunks; lower and upper
//! bounds are the least and greatest of the chunks' exact Parquet minimums and maximums, and
//! a column with one inexact (truncated) statistic gets no bound at all, since a bound must
//! hold for every row. NaN counts are not in Parquet statistics: they are counted from the
//! floating-point columns, decoded alone for copied row groups. Types whose bounds this cannot convert make a file
//! ineligible for copying ([`unsupported_column`]), never a file with missing metrics.

use std::collections::HashMap;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum, PartitionKey, PrimitiveType,
    Schema, Type,
};
use iceberg::{Error as IcebergError, ErrorKind};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::basic::Type as PhysicalType;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::ChunkReader;
use parquet::file::statistics::Statistics;
use parquet::schema::types::SchemaDescriptor;

/// NaN values per field id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct NanCounts(pub HashMap<i32, u64>);

/// The first column of `schema` whose metrics a copy cannot take: not a primitive at the top
/// level, or a type whose Parquet statistics are not converted here.
pub(super) fn unsupported_column(schema: &Schema) -> Option<String> {
    use PrimitiveType as P;
    schema.as_struct().fields().iter().find_map(|f| match f.field_type.as_ref() {
        Type::Primitive(
            P::Boolean
            | P::Int
            | P::Long
            | P::Float
            | P::Double
            | P::Date
            | P::Time
            | P::Timestamp
            | P::Timestamptz
            | P::TimestampNs
            | P::TimestamptzNs
            | P::String
            | P::Binary,
        ) => None,
        _ => Some(f.name.clone()),
    })
}

/// The floating-point leaves of `descr`: (leaf index, field id). With the flat schemas a copy
/// accepts ([`unsupported_column`]), a leaf index is also the column's index in a batch.
pub(super) fn float_leaves(descr: &SchemaDescriptor) -> Vec<(usize, i32)> {
    (0..descr.num_columns())
        .filter(|&i| {
            matches!(descr.column(i).physical_type(), PhysicalType::FLOAT | PhysicalType::DOUBLE)
        })
        .map(|i| (i, descr.column(i).self_type().get_basic_info().id()))
        .collect()
}

/// The rows of row group `rg` of the file of `md`, whose bytes `reader` holds: every column,
/// or only the `leaves` given.
pub(super) fn decode<R: ChunkReader + Clone + 'static>(
    reader: &R,
    md: &Arc<ParquetMetaData>,
    rg: usize,
    leaves: Option<Vec<usize>>,
) -> iceberg::Result<Vec<RecordBatch>> {
    let err = |e: parquet::errors::ParquetError| {
        IcebergError::new(ErrorKind::DataInvalid, format!("decoding row group {rg}")).with_source(e)
    };
    let meta = ArrowReaderMetadata::try_new(md.clone(), ArrowReaderOptions::new()).map_err(err)?;
    let descr = md.file_metadata().schema_descr();
    let mask = leaves.map_or_else(ProjectionMask::all, |l| ProjectionMask::leaves(descr, l));
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(reader.clone(), meta)
        .with_row_groups(vec![rg])
        .with_projection(mask)
        .build()
        .map_err(err)?;
    reader.map(|b| b.map_err(|e| err(e.into()))).collect()
}

impl NanCounts {
    /// Zero NaN values for each of `floats`' fields.
    pub(super) fn zero(floats: &[(usize, i32)]) -> Self {
        NanCounts(floats.iter().map(|&(_, id)| (id, 0)).collect())
    }

    /// Counts the NaN values of `column`, of field `id`.
    pub(super) fn count(&mut self, column: &ArrayRef, id: i32) {
        let nans = match column.data_type() {
            DataType::Float32 => {
                column.as_primitive::<Float32Type>().iter().flatten().filter(|v| v.is_nan()).count()
            }
            DataType::Float64 => {
                column.as_primitive::<Float64Type>().iter().flatten().filter(|v| v.is_nan()).count()
            }
            _ => 0,
        };
        *self.0.entry(id).or_insert(0) += nans as u64;
    }
}

/// A written file's footer, with what the footer lacks, as an Iceberg data file.
pub(super) struct FileMetrics<'a> {
    /// The table schema the file is written with.
    pub schema: &'a Schema,
    /// The file's footer.
    pub metadata: &'a ParquetMetaData,
    /// Its NaN values per floating-point field.
    pub nan_counts: &'a NanCounts,
}

/// Least and greatest exact values of one column so far; `None` once one was inexact.
#[derive(Default)]
struct Bounds {
    lower: Option<Option<Datum>>,
    upper: Option<Option<Datum>>,
}

impl FileMetrics<'_> {
    /// The data file at `location`, `size` bytes, of partition `key`.
    pub(super) fn data_file(
        &self,
        location: &str,
        size: u64,
        key: &PartitionKey,
    ) -> iceberg::Result<DataFile> {
        let mut sizes = HashMap::new();
        let mut values = HashMap::new();
        let mut nulls = HashMap::new();
        let mut bounds: HashMap<i32, Bounds> = HashMap::new();
        for rg in self.metadata.row_groups() {
            for chunk in rg.columns() {
                let id = chunk.column_descr().self_type().get_basic_info().id();
                *sizes.entry(id).or_insert(0) +=
                    u64::try_from(chunk.compressed_size()).unwrap_or(0);
                *values.entry(id).or_insert(0) += u64::try_from(chunk.num_values()).unwrap_or(0);
                let Some(stats) = chunk.statistics() else {
                    continue;
                };
                if let Some(n) = stats.null_count_opt() {
                    *nulls.entry(id).or_insert(0) += n;
                }
                let Some(ty) = self
                    .schema
                    .field_by_id(id)
                    .and_then(|f| f.field_type.as_primitive_type().cloned())
                else {
                    continue;
                };
                let b = bounds.entry(id).or_default();
                merge(
                    &mut b.lower,
                    stats.min_is_exact(),
                    datum(&ty, stats, Side::Min)?,
                    |new, old| new < old,
                );
                merge(
                    &mut b.upper,
                    stats.max_is_exact(),
                    datum(&ty, stats, Side::Max)?,
                    |new, old| new > old,
                );
            }
        }
        let (mut lower, mut upper) = (HashMap::new(), HashMap::new());
        for (id, b) in bounds {
            if let Some(Some(d)) = b.lower {
                lower.insert(id, d);
            }
            if let Some(Some(d)) = b.upper {
                upper.insert(id, d);
            }
        }
        let mut builder = DataFileBuilder::default();
        builder
            .content(DataContentType::Data)
            .file_path(location.to_string())
            .file_format(DataFileFormat::Parquet)
            .partition(key.data().clone())
            .partition_spec_id(key.spec().spec_id())
            .record_count(u64::try_from(self.metadata.file_metadata().num_rows()).unwrap_or(0))
            .file_size_in_bytes(size)
            .column_sizes(sizes)
            .value_counts(values)
            .null_value_counts(nulls)
            .nan_value_counts(self.nan_counts.0.clone())
            .lower_bounds(lower)
            .upper_bounds(upper)
            .split_offsets(Some(
                self.metadata.row_groups().iter().filter_map(|g| g.file_offset()).collect(),
            ));
        builder.build().map_err(|e| {
            IcebergError::new(ErrorKind::DataInvalid, format!("building a data file: {e}"))
        })
    }
}

/// Folds one chunk's statistic into a bound: `slot` is `None` before any value, `Some(None)`
/// once an inexact statistic voided the bound.
fn merge(
    slot: &mut Option<Option<Datum>>,
    exact: bool,
    value: Option<Datum>,
    better: impl Fn(&Datum, &Datum) -> bool,
) {
    let Some(value) = value else {
        return; // every value of the chunk is null: nothing to bound
    };
    match slot {
        Some(None) => {}
        _ if !exact => *slot = Some(None),
        None => *slot = Some(Some(value)),
        Some(Some(old)) => {
            if better(&value, old) {
                *old = value;
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Min,
    Max,
}

/// The statistic's minimum or maximum as a value of `ty`; `None` when the chunk has none.
fn datum(ty: &PrimitiveType, stats: &Statistics, side: Side) -> iceberg::Result<Option<Datum>> {
    use PrimitiveType as P;
    macro_rules! pick {
        ($s:expr) => {
            match side {
                Side::Min => $s.min_opt(),
                Side::Max => $s.max_opt(),
            }
        };
    }
    Ok(match (ty, stats) {
        (P::Boolean, Statistics::Boolean(s)) => pick!(s).map(|v| Datum::bool(*v)),
        (P::Int, Statistics::Int32(s)) => pick!(s).map(|v| Datum::int(*v)),
        (P::Date, Statistics::Int32(s)) => pick!(s).map(|v| Datum::date(*v)),
        (P::Long, Statistics::Int64(s)) => pick!(s).map(|v| Datum::long(*v)),
        (P::Time, Statistics::Int64(s)) => pick!(s).map(|v| Datum::time_micros(*v)).transpose()?,
        (P::Timestamp, Statistics::Int64(s)) => pick!(s).map(|v| Datum::timestamp_micros(*v)),
        (P::Timestamptz, Statistics::Int64(s)) => pick!(s).map(|v| Datum::timestamptz_micros(*v)),
        (P::TimestampNs, Statistics::Int64(s)) => pick!(s).map(|v| Datum::timestamp_nanos(*v)),
        (P::TimestamptzNs, Statistics::Int64(s)) => pick!(s).map(|v| Datum::timestamptz_nanos(*v)),
        (P::Float, Statistics::Float(s)) => pick!(s).map(|v| Datum::float(*v)),
        (P::Double, Statistics::Double(s)) => pick!(s).map(|v| Datum::double(*v)),
        (P::String, Statistics::ByteArray(s)) => match pick!(s) {
            Some(v) => Some(Datum::string(v.as_utf8().map_err(|e| {
                IcebergError::new(ErrorKind::DataInvalid, "a string statistic").with_source(e)
            })?)),
            None => None,
        },
        (P::Binary, Statistics::ByteArray(s)) => pick!(s).map(|v| Datum::binary(v.data().to_vec())),
        (ty, _) => {
            return Err(IcebergError::new(
                ErrorKind::DataInvalid,
                format!("a {ty} column has Parquet statistics of another type"),
            ));
        }
    })
}
