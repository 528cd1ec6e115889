//! How each column of a compacted file is encoded and compressed, chosen by what it holds.
//!
//! Parquet's defaults (a dictionary for every column, falling back to plain values once it is
//! full, one codec level for all) suit few of an observability table's heavy columns:
//! identifiers (`trace_id`, `span_id`) are nearly all distinct, so their dictionary is built
//! and thrown away, and no codec level finds more in random hex; timestamps and counters sit
//! close to their neighbours; free text such as attribute maps (JSON) repeats long phrases
//! that zstd finds only from level 6. Measured on loadgen traces (one hour, 800,000 rows;
//! docs/benchmarks.md, "Storage"), this layout is about a fifth smaller than the defaults:
//!
//! | column | dictionary | encoding | zstd level |
//! |---|---|---|---|
//! | identifier: string or binary named `id` or `…_id` | no | `DELTA_LENGTH_BYTE_ARRAY` | 1 |
//! | identifier: fixed or uuid | no | plain | 1 |
//! | other string or binary (text) | yes, plain once full | plain | 6 |
//! | timestamp, date, time, int, long | no | `DELTA_BINARY_PACKED`; plain when it is a sort column after the first | 1 |
//! | float, double | no | `BYTE_STREAM_SPLIT` | 1 |
//! | boolean, decimal, nested | Parquet's default | Parquet's default | the file's |
//!
//! A number sorted behind another column (`timestamp` in `trace_id, timestamp`) restarts at
//! every new leading value, so its deltas are as wide as its values and plain compresses
//! better. The levels apply when the codec is zstd and the table names no level
//! (`write.parquet.compression-level`); otherwise every column gets the table's codec and
//! level. Every encoding here is read by parquet-java (Spark, Trino, Java Iceberg), arrow-rs,
//! Arrow C++ (pyiceberg) and DuckDB.

use iceberg::spec::{PrimitiveType, Schema, Type};
use parquet::basic::Encoding;

/// The zstd level of columns that higher levels do not shrink (identifiers, numbers).
pub(crate) const FAST_LEVEL: i32 = 1;

/// The zstd level of text columns.
pub(crate) const TEXT_LEVEL: i32 = 6;

/// How one column is encoded and compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ColumnEncoding {
    /// Whether values go through a dictionary first.
    pub dictionary: bool,
    /// The encoding of values without a dictionary (and once a dictionary is full); `None`
    /// leaves Parquet's default.
    pub encoding: Option<Encoding>,
    /// The zstd level, when the file's codec is zstd at no level the table chose.
    pub zstd_level: i32,
}

/// The encodings of `schema`'s top-level primitive columns, by column name, for rows sorted by
/// `sort_columns` (most significant first; empty when unsorted); columns left at Parquet's
/// defaults are not listed.
pub(crate) fn column_encodings(
    schema: &Schema,
    sort_columns: &[&str],
) -> Vec<(String, ColumnEncoding)> {
    schema
        .as_struct()
        .fields()
        .iter()
        .filter_map(|field| match field.field_type.as_ref() {
            Type::Primitive(p) => {
                let behind = sort_columns.iter().skip(1).any(|c| *c == field.name);
                encoding_of(&field.name, p, behind).map(|e| (field.name.clone(), e))
            }
            _ => None,
        })
        .collect()
}

/// Whether a column named `name` holds identifiers: `id` or a name ending in `_id`.
fn is_identifier(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "id" || name.ends_with("_id")
}

/// The encoding of a column named `name` of type `ty`, `sorted_behind` another sort column;
/// `None` for Parquet's default.
fn encoding_of(name: &str, ty: &PrimitiveType, sorted_behind: bool) -> Option<ColumnEncoding> {
    let fast =
        |encoding| Some(ColumnEncoding { dictionary: false, encoding, zstd_level: FAST_LEVEL });
    match ty {
        PrimitiveType::String | PrimitiveType::Binary if is_identifier(name) => {
            fast(Some(Encoding::DELTA_LENGTH_BYTE_ARRAY))
        }
        PrimitiveType::Fixed(_) | PrimitiveType::Uuid if is_identifier(name) => fast(None),
        PrimitiveType::String | PrimitiveType::Binary => {
            Some(ColumnEncoding { dictionary: true, encoding: None, zstd_level: TEXT_LEVEL })
        }
        PrimitiveType::Int
        | PrimitiveType::Long
        | PrimitiveType::Date
        | PrimitiveType::Time
        | PrimitiveType::Timestamp
        | PrimitiveType::Timestamptz
        | PrimitiveType::TimestampNs
        | PrimitiveType::TimestamptzNs => {
            fast(Some(if sorted_behind { Encoding::PLAIN } else { Encoding::DELTA_BINARY_PACKED }))
        }
        PrimitiveType::Float | PrimitiveType::Double => fast(Some(Encoding::BYTE_STREAM_SPLIT)),
        PrimitiveType::Boolean
        | PrimitiveType::Decimal { .. }
        | PrimitiveType::Fixed(_)
        | PrimitiveType::Uuid => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::NestedField;
    use std::sync::Arc;

    fn schema(fields: Vec<(&str, PrimitiveType)>) -> Schema {
        let fields = fields
            .into_iter()
            .enumerate()
            .map(|(i, (name, ty))| {
                Arc::new(NestedField::required(i as i32 + 1, name, Type::Primitive(ty)))
            })
            .collect::<Vec<_>>();
        Schema::builder().with_fields(fields).build().unwrap()
    }

    fn traces() -> Schema {
        schema(vec![
            ("timestamp", PrimitiveType::Timestamptz),
            ("trace_id", PrimitiveType::String),
            ("span_id", PrimitiveType::Binary),
            ("service_name", PrimitiveType::String),
            ("duration_ns", PrimitiveType::Long),
            ("value", PrimitiveType::Double),
            ("flag", PrimitiveType::Boolean),
            ("uid", PrimitiveType::Uuid),
            ("request_id", PrimitiveType::Fixed(16)),
        ])
    }

    #[test]
    fn each_kind_of_column_gets_its_encoding_and_level() {
        let found = column_encodings(&traces(), &[]);
        let of = |name: &str| found.iter().find(|(n, _)| n == name).map(|(_, e)| *e);
        let fast =
            |encoding| Some(ColumnEncoding { dictionary: false, encoding, zstd_level: FAST_LEVEL });
        assert_eq!(of("timestamp"), fast(Some(Encoding::DELTA_BINARY_PACKED)));
        assert_eq!(of("trace_id"), fast(Some(Encoding::DELTA_LENGTH_BYTE_ARRAY)));
        assert_eq!(of("span_id"), fast(Some(Encoding::DELTA_LENGTH_BYTE_ARRAY)));
        assert_eq!(of("request_id"), fast(None));
        assert_eq!(
            of("service_name"),
            Some(ColumnEncoding { dictionary: true, encoding: None, zstd_level: TEXT_LEVEL })
        );
        assert_eq!(of("duration_ns"), fast(Some(Encoding::DELTA_BINARY_PACKED)));
        assert_eq!(of("value"), fast(Some(Encoding::BYTE_STREAM_SPLIT)));
        assert_eq!(of("flag"), None, "booleans keep Parquet's default");
        assert_eq!(of("uid"), None, "a uuid not named as an identifier keeps the default");
    }

    #[test]
    fn a_number_sorted_behind_another_column_is_written_plain() {
        let found = column_encodings(&traces(), &["trace_id", "timestamp"]);
        let of = |name: &str| found.iter().find(|(n, _)| n == name).map(|(_, e)| e.encoding);
        assert_eq!(of("timestamp"), Some(Some(Encoding::PLAIN)));
        assert_eq!(of("duration_ns"), Some(Some(Encoding::DELTA_BINARY_PACKED)));
        let leading = column_encodings(&traces(), &["timestamp", "trace_id"]);
        assert_eq!(leading[0].1.encoding, Some(Encoding::DELTA_BINARY_PACKED), "leading key");
    }

    #[test]
    fn identifiers_are_named_id_or_end_in_id() {
        assert!(is_identifier("trace_id"));
        assert!(is_identifier("ID"));
        assert!(!is_identifier("idle"));
        assert!(!is_identifier("valid"));
    }
}
