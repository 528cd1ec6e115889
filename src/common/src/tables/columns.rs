//! The columns every layout's tables share, and sort orders built on named columns.

use iceberg::spec::{NullOrder, Schema, SortDirection, SortField, SortOrder, Transform};

/// Name of the timestamp column every signal table is partitioned on.
pub const TIMESTAMP_COLUMN: &str = "timestamp";
/// Name of the partition field produced by `hour(timestamp)`.
pub const HOUR_PARTITION_FIELD: &str = "hour";

/// The sort order `order_id` 1 of `schema` on `columns`: identity transforms, ascending with
/// nulls first (Iceberg's default for ascending). Every column must exist in `schema`.
pub fn sort_order_on(schema: &Schema, columns: &[&str]) -> SortOrder {
    let fields = columns.iter().map(|name| SortField {
        source_id: schema.field_by_name(name).expect("sort columns exist").id,
        transform: Transform::Identity,
        direction: SortDirection::Ascending,
        null_order: NullOrder::First,
    });
    SortOrder { order_id: 1, fields: fields.collect() }
}
