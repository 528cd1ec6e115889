//! Arrow columns from generated rows: timestamps in Iceberg's `timestamptz` type, string
//! columns of one field of each row, and rows put in time order.

use std::sync::Arc;

use arrow_array::{ArrayRef, StringArray, TimestampMicrosecondArray};

/// Arrow's name for the UTC time zone used by Iceberg `timestamptz` columns.
const UTC: &str = "+00:00";

/// A timestamp column in the `timestamptz` Arrow type.
pub(super) fn timestamps(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone(UTC))
}

/// A string column of one field of `rows`.
pub(super) fn strings<T>(rows: &[T], field: impl Fn(&T) -> &str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(field)))
}

/// A nullable string column of one field of `rows`.
pub(super) fn opt_strings<T>(rows: &[T], field: impl Fn(&T) -> Option<&str>) -> ArrayRef {
    Arc::new(rows.iter().map(field).collect::<StringArray>())
}

/// Sorts generated rows by timestamp (stable, so equal timestamps keep generation order).
pub(super) fn sort_by_time<T>(rows: &mut [T], ts: impl Fn(&T) -> i64) {
    rows.sort_by_key(ts);
}
