//! How each column of a compacted file is encoded and compressed, chosen by what it holds.
//!
//! Parquet's defaults (a dictionary for every column, falling back to plain values once it is
//! full, one codec level for all) suit few of an observability table's heavy columns:
//! identifiers (`trace_id`, `span_id`) and numbers are nearly all distinct, so their
//! dictionary is built and thrown away, and no codec level finds more in random hex; free text
//! such as attribute maps (JSON) repeats long phrases that zstd finds only from level 6.
//! Measured on loadgen traces (one hour, 800,000 rows; docs/compaction.md), this layout is
//! about a quarter smaller than the defaults:
//!
//! | column | dictionary | zstd level |
//! |---|---|---|
//! | identifier: named `id` or `…_id` | no | 1 |
//! | number: int, long, float, double, date, time, timestamp | no | 1 |
//! | other string or binary (text) | yes, plain once full | 6 |
//! | boolean, decimal, fixed, uuid, nested | Parquet's default | 1 |
//!
//! Values are always written plain (or as dictionary indices): Java Iceberg's vectorized
//! Parquet reader, which Spark uses by default, reads nothing else but `DELTA_BINARY_PACKED`
//! (since 1.7), and under zstd the delta and split encodings saved under 1 % here. The levels
//! apply when the codec is zstd and the table names no level
//! (`write.parquet.compression-level`); otherwise every column gets the table's codec and
//! level.

use iceberg::spec::{PrimitiveType, Schema, Type};

/// The zstd level of columns that higher levels do not shrink (identifiers, numbers) and of
/// those left at Parquet's defaults.
pub(crate) const FAST_LEVEL: i32 = 1;

/// The zstd level of text columns.
pub(crate) const TEXT_LEVEL: i32 = 6;

/// How one column is encoded and compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ColumnEncoding {
    /// Whether values go through a dictionary first (else they are written plain).
    pub dictionary: bool,
    /// The zstd level, when the file's codec is zstd at no level the table chose.
    pub zstd_level: i32,
}

/// The encodings of `schema`'s top-level primitive columns, by column name; columns left at
/// Parquet's defaults are not listed.
pub(crate) fn column_encodings(schema: &Schema) -> Vec<(String, ColumnEncoding)> {
    schema
        .as_struct()
        .fields()
        .iter()
        .filter_map(|field| match field.field_type.as_ref() {
            Type::Primitive(p) => encoding_of(&field.name, p).map(|e| (field.name.clone(), e)),
            _ => None,
        })
        .collect()
}

/// Whether a column named `name` holds identifiers: `id` or a name ending in `_id`.
fn is_identifier(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "id" || name.ends_with("_id")
}

/// The encoding of a column named `name` of type `ty`; `None` for Parquet's default.
fn encoding_of(name: &str, ty: &PrimitiveType) -> Option<ColumnEncoding> {
    let plain = Some(ColumnEncoding { dictionary: false, zstd_level: FAST_LEVEL });
    match ty {
        _ if is_identifier(name) => plain,
        PrimitiveType::String | PrimitiveType::Binary => {
            Some(ColumnEncoding { dictionary: true, zstd_level: TEXT_LEVEL })
        }
        PrimitiveType::Int
        | PrimitiveType::Long
        | PrimitiveType::Float
        | PrimitiveType::Double
        | PrimitiveType::Date
        | PrimitiveType::Time
        | PrimitiveType::Timestamp
        | PrimitiveType::Timestamptz
        | PrimitiveType::TimestampNs
        | PrimitiveType::TimestamptzNs => plain,
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

    #[test]
    fn each_kind_of_column_gets_its_dictionary_and_level() {
        let s = schema(vec![
            ("timestamp", PrimitiveType::Timestamptz),
            ("trace_id", PrimitiveType::String),
            ("span_id", PrimitiveType::Binary),
            ("request_id", PrimitiveType::Fixed(16)),
            ("service_name", PrimitiveType::String),
            ("duration_ns", PrimitiveType::Long),
            ("value", PrimitiveType::Double),
            ("flag", PrimitiveType::Boolean),
            ("uid", PrimitiveType::Uuid),
        ]);
        let found = column_encodings(&s);
        let of = |name: &str| found.iter().find(|(n, _)| n == name).map(|(_, e)| *e);
        let plain = Some(ColumnEncoding { dictionary: false, zstd_level: FAST_LEVEL });
        for column in ["timestamp", "trace_id", "span_id", "request_id", "duration_ns", "value"] {
            assert_eq!(of(column), plain, "{column}");
        }
        let text = Some(ColumnEncoding { dictionary: true, zstd_level: TEXT_LEVEL });
        assert_eq!(of("service_name"), text);
        assert_eq!(of("flag"), None, "booleans keep Parquet's default");
        assert_eq!(of("uid"), None, "a uuid not named as an identifier keeps the default");
    }

    #[test]
    fn identifiers_are_named_id_or_end_in_id() {
        assert!(is_identifier("trace_id"));
        assert!(is_identifier("ID"));
        assert!(!is_identifier("idle"));
        assert!(!is_identifier("valid"));
    }
}
