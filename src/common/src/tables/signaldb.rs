//! SignalDB's own table layout: the eight tables its writer creates in every dataset
//! (`traces`, `logs`, five `metrics_*` tables and `profiles`), as `docs/tables.md` describes.
//!
//! Field ids follow SignalDB's rule: top-level columns get 1..N in column order, then the key
//! and value of each map column get the next free ids, two per map in column order (the order
//! Iceberg's fresh-id assignment produces). Every table is partitioned by `hour(timestamp)`
//! into a field named `timestamp_hour` whose id is 1000 + the `timestamp` column's id; the
//! `hour` data column is the hour of the day, an ordinary column.
//!
//! Tables created at an older schema version are evolved in place, so a table's current
//! schema may carry more columns, or other ids, than [`schema`] gives: readers bind columns by
//! name or id, never by position.

use std::collections::HashMap;

use iceberg::TableCreation;
use iceberg::spec::{
    FormatVersion, MapType, NestedField, PrimitiveType, Schema, SortOrder, Transform, Type,
    UnboundPartitionField, UnboundPartitionSpec,
};

use super::columns::{TIMESTAMP_COLUMN, sort_order_on};
use super::id::{TableError, TableId};
use crate::table_kind::TableKind;

/// The layout's name in messages.
pub const LAYOUT: &str = "signaldb";
/// Name of the partition field produced by `hour(timestamp)`.
pub const PARTITION_FIELD: &str = "timestamp_hour";
/// A partition field's id is this plus its source column's field id.
pub const PARTITION_FIELD_ID_OFFSET: i32 = 1000;
/// Table property naming the schema version a table was created or last evolved at.
pub const SCHEMA_VERSION_PROPERTY: &str = "signaldb.schema.version";
/// Schema version of [`schema`]`(TableKind::Traces)`.
pub const TRACES_SCHEMA_VERSION: &str = "physical-v3";
/// Schema version of [`traces_v2_schema`].
pub const TRACES_V2_SCHEMA_VERSION: &str = "physical-v2";
/// Schema version of every other table.
pub const SCHEMA_VERSION: &str = "physical-v1";
/// How many previous metadata files SignalDB's tables keep.
pub const PREVIOUS_VERSIONS_MAX: usize = 100;

/// One column of a layout schema, before ids are assigned.
#[derive(Debug, Clone)]
enum Column {
    /// A primitive column: name, type, required.
    Primitive(&'static str, PrimitiveType, bool),
    /// An optional `map<string, string>` column with optional values.
    Map(&'static str),
}

fn req(name: &'static str, ty: PrimitiveType) -> Column {
    Column::Primitive(name, ty, true)
}

fn opt(name: &'static str, ty: PrimitiveType) -> Column {
    Column::Primitive(name, ty, false)
}

fn map(name: &'static str) -> Column {
    Column::Map(name)
}

/// The columns `traces` gained at `physical-v3`, in the order they are added.
fn traces_v3_additions() -> [Column; 5] {
    use PrimitiveType::{Int, Long};
    [
        opt("span_kind_number", Int),
        opt("status_code_number", Int),
        opt("dropped_attributes_count", Long),
        opt("dropped_events_count", Long),
        opt("dropped_links_count", Long),
    ]
}

/// `traces` at `physical-v2`.
fn traces_v2_columns() -> Vec<Column> {
    use PrimitiveType::{Boolean, Date, Int, Long, String as Str, Timestamp};
    vec![
        req("trace_id", Str),
        req("span_id", Str),
        opt("parent_span_id", Str),
        req("span_name", Str),
        req("service_name", Str),
        req("start_time_unix_nano", Long),
        req("end_time_unix_nano", Long),
        req("duration_nanos", Long),
        req("span_kind", Str),
        req("status_code", Str),
        opt("status_message", Str),
        req("is_root", Boolean),
        map("span_attributes"),
        map("resource_attributes"),
        opt("events", Str),
        opt("links", Str),
        opt("trace_state", Str),
        opt("resource_schema_url", Str),
        opt("scope_name", Str),
        opt("scope_version", Str),
        opt("scope_schema_url", Str),
        map("scope_attributes"),
        req(TIMESTAMP_COLUMN, Timestamp),
        req("date_day", Date),
        req("hour", Int),
    ]
}

fn logs_columns() -> Vec<Column> {
    use PrimitiveType::{Date, Int, String as Str, Timestamp};
    vec![
        req(TIMESTAMP_COLUMN, Timestamp),
        opt("observed_timestamp", Timestamp),
        opt("trace_id", Str),
        opt("span_id", Str),
        opt("trace_flags", Int),
        opt("severity_text", Str),
        opt("severity_number", Int),
        req("service_name", Str),
        opt("body", Str),
        opt("resource_schema_url", Str),
        map("resource_attributes"),
        opt("scope_schema_url", Str),
        opt("scope_name", Str),
        opt("scope_version", Str),
        map("scope_attributes"),
        map("log_attributes"),
        req("date_day", Date),
        req("hour", Int),
    ]
}

/// The columns every metrics table shares before its value columns.
fn metric_head() -> [Column; 6] {
    use PrimitiveType::{String as Str, Timestamp};
    [
        req(TIMESTAMP_COLUMN, Timestamp),
        opt("start_timestamp", Timestamp),
        req("service_name", Str),
        req("metric_name", Str),
        opt("metric_description", Str),
        opt("metric_unit", Str),
    ]
}

/// The columns every metrics table shares after its value columns.
fn metric_tail() -> [Column; 11] {
    use PrimitiveType::{Date, Int, String as Str};
    [
        opt("resource_schema_url", Str),
        map("resource_attributes"),
        opt("scope_name", Str),
        opt("scope_version", Str),
        opt("scope_schema_url", Str),
        map("scope_attributes"),
        opt("scope_dropped_attr_count", Int),
        map("attributes"),
        opt("exemplars", Str),
        req("date_day", Date),
        req("hour", Int),
    ]
}

fn metric_columns(values: &[Column]) -> Vec<Column> {
    metric_head().into_iter().chain(values.iter().cloned()).chain(metric_tail()).collect()
}

fn metrics_columns(kind: TableKind) -> Option<Vec<Column>> {
    use PrimitiveType::{Boolean, Double, Int, Long, String as Str};
    let values = match kind {
        TableKind::MetricsGauge => vec![req("value", Double), opt("flags", Int)],
        TableKind::MetricsSum => vec![
            req("value", Double),
            opt("flags", Int),
            req("aggregation_temporality", Int),
            req("is_monotonic", Boolean),
        ],
        TableKind::MetricsHistogram => vec![
            req("count", Long),
            opt("sum", Double),
            opt("min", Double),
            opt("max", Double),
            opt("bucket_counts", Str),
            opt("explicit_bounds", Str),
            opt("flags", Int),
            req("aggregation_temporality", Int),
        ],
        TableKind::MetricsExponentialHistogram => vec![
            req("count", Long),
            opt("sum", Double),
            opt("min", Double),
            opt("max", Double),
            opt("scale", Int),
            opt("zero_count", Long),
            opt("positive_offset", Int),
            opt("positive_bucket_counts", Str),
            opt("negative_offset", Int),
            opt("negative_bucket_counts", Str),
            opt("flags", Int),
            req("aggregation_temporality", Int),
            opt("zero_threshold", Double),
        ],
        TableKind::MetricsSummary => vec![
            req("count", Long),
            req("sum", Double),
            opt("quantile_values", Str),
            opt("flags", Int),
        ],
        _ => return None,
    };
    Some(metric_columns(&values))
}

fn profiles_columns() -> Vec<Column> {
    use PrimitiveType::{Date, Int, Long, String as Str, Timestamp};
    vec![
        req("profile_id", Str),
        req(TIMESTAMP_COLUMN, Timestamp),
        req("duration_nano", Long),
        req("sample_type", Str),
        req("sample_unit", Str),
        opt("period_type", Str),
        opt("period_unit", Str),
        opt("period", Long),
        req("service_name", Str),
        req("stacktraces_json", Str),
        req("samples_json", Str),
        map("resource_attributes"),
        map("scope_attributes"),
        map("profile_attributes"),
        opt("trace_id", Str),
        opt("span_id", Str),
        req("date_day", Date),
        req("hour", Int),
    ]
}

fn columns(kind: TableKind) -> Option<Vec<Column>> {
    match kind {
        TableKind::Traces => {
            Some(traces_v2_columns().into_iter().chain(traces_v3_additions()).collect())
        }
        TableKind::Logs => Some(logs_columns()),
        TableKind::Profiles => Some(profiles_columns()),
        TableKind::Metrics => None,
        metrics => metrics_columns(metrics),
    }
}

/// A `map<string, string>` type with the given key and value ids; keys are required, values
/// optional.
fn string_map(key_id: i32, value_id: i32) -> Type {
    let string = || Type::Primitive(PrimitiveType::String);
    Type::Map(MapType::new(
        NestedField::map_key_element(key_id, string()).into(),
        NestedField::map_value_element(value_id, string(), false).into(),
    ))
}

/// Assigns ids to `columns` by the layout's rule and builds the schema (id 0).
fn build(columns: &[Column]) -> Schema {
    let mut next_nested = columns.len() as i32 + 1;
    let fields = columns.iter().zip(1..).map(|(column, id)| match column {
        Column::Primitive(name, ty, required) => {
            NestedField::new(id, *name, Type::Primitive(ty.clone()), *required)
        }
        Column::Map(name) => {
            let ty = string_map(next_nested, next_nested + 1);
            next_nested += 2;
            NestedField::optional(id, name, ty)
        }
    });
    Schema::builder()
        .with_schema_id(0)
        .with_fields(fields.map(Into::into).collect::<Vec<_>>())
        .build()
        .expect("the built-in SignalDB schemas are valid")
}

/// The Iceberg schema (id 0) SignalDB's writer creates `table` with, if the layout has it:
/// `traces` at `physical-v3`, every other table at `physical-v1`.
pub fn schema(table: TableKind) -> Option<Schema> {
    columns(table).map(|c| build(&c))
}

/// `traces` as SignalDB created it at `physical-v2`: the `physical-v3` columns without the
/// five [`traces_v3_columns`], ids assigned by the same rule (so its map ids differ from a
/// fresh `physical-v3` table's).
pub fn traces_v2_schema() -> Schema {
    build(&traces_v2_columns())
}

/// The five columns evolving `traces` from `physical-v2` to `physical-v3` adds, in order, with
/// ids `first_id`, `first_id + 1`, … (a table's next free ids: its highest field id + 1).
pub fn traces_v3_columns(first_id: i32) -> Vec<NestedField> {
    traces_v3_additions()
        .into_iter()
        .zip(first_id..)
        .map(|(column, id)| match column {
            Column::Primitive(name, ty, required) => {
                NestedField::new(id, name, Type::Primitive(ty), required)
            }
            Column::Map(_) => unreachable!("physical-v3 adds no map column"),
        })
        .collect()
}

/// The partition spec (id 0) of a SignalDB table of `schema`: `hour(timestamp)` named
/// `timestamp_hour`, field id 1000 + the `timestamp` column's id. `None` when `schema` has no
/// `timestamp` column.
pub fn partition_spec(schema: &Schema) -> Option<UnboundPartitionSpec> {
    let source_id = schema.field_by_name(TIMESTAMP_COLUMN)?.id;
    let field = UnboundPartitionField::builder()
        .source_id(source_id)
        .field_id(PARTITION_FIELD_ID_OFFSET + source_id)
        .name(PARTITION_FIELD.to_string())
        .transform(Transform::Hour)
        .build();
    let spec = UnboundPartitionSpec::builder()
        .with_spec_id(0)
        .add_partition_fields([field])
        .expect("one partition field is a valid spec")
        .build();
    Some(spec)
}

/// The columns SignalDB's tables are sorted by (sort order 1), if the layout has `table`.
pub fn sort_columns(table: TableKind) -> Option<&'static [&'static str]> {
    match table {
        TableKind::Traces => Some(&[TIMESTAMP_COLUMN, "trace_id"]),
        TableKind::Logs => Some(&[TIMESTAMP_COLUMN, "service_name", "severity_text"]),
        TableKind::MetricsGauge
        | TableKind::MetricsSum
        | TableKind::MetricsHistogram
        | TableKind::MetricsExponentialHistogram
        | TableKind::MetricsSummary => Some(&[TIMESTAMP_COLUMN, "metric_name", "service_name"]),
        TableKind::Profiles => Some(&[TIMESTAMP_COLUMN, "service_name"]),
        TableKind::Metrics => None,
    }
}

/// The sort order (id 1) SignalDB creates `table` with: [`sort_columns`], identity,
/// ascending, nulls first.
pub fn sort_order(table: TableKind) -> Option<SortOrder> {
    Some(sort_order_on(&schema(table)?, sort_columns(table)?))
}

/// The table properties SignalDB sets when it creates `table` (empty for a table the layout
/// does not have). The properties its writer adds later (`signaldb.wal.committed.*`,
/// `signaldb.hot.*`) are not among them.
pub fn properties(table: TableKind) -> HashMap<String, String> {
    let Some(schema) = schema(table) else {
        return HashMap::new();
    };
    let mut props: HashMap<String, String> = [
        ("write.metadata.delete-after-commit.enabled", "true".to_string()),
        ("write.metadata.previous-versions-max", PREVIOUS_VERSIONS_MAX.to_string()),
        ("write.parquet.compression-codec", "zstd".to_string()),
        ("write.parquet.compression-level", "1".to_string()),
        ("write.metadata.metrics.default", "truncate(16)".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if schema.field_by_name("trace_id").is_some() {
        props.insert("write.parquet.bloom-filter-enabled.column.trace_id".into(), "true".into());
    }
    let version = match table {
        TableKind::Traces => Some(TRACES_SCHEMA_VERSION),
        TableKind::Logs => Some(SCHEMA_VERSION),
        _ => None,
    };
    if let Some(version) = version {
        props.insert(SCHEMA_VERSION_PROPERTY.to_string(), version.to_string());
    }
    props
}

/// The table-creation request for SignalDB's table `id` under the warehouse location
/// `warehouse`: format version 2, [`schema`], [`partition_spec`], [`sort_order`] and
/// [`properties`], located at `{warehouse}/{tenant}/{dataset}/{table}`.
///
/// Iceberg's table-metadata builder assigns fresh ids on creation: the schema's and sort
/// order's come out unchanged (they follow the same rule), but the partition field gets 1000;
/// keeping 1000 + the timestamp id takes writing the metadata as requested.
pub fn creation(id: &TableId, warehouse: &str) -> Result<TableCreation, TableError> {
    let not_in_layout = || TableError::NotInLayout { layout: LAYOUT, table: id.table };
    let schema = schema(id.table).ok_or_else(not_in_layout)?;
    let order = sort_order(id.table).ok_or_else(not_in_layout)?;
    let spec = partition_spec(&schema).ok_or_else(not_in_layout)?;
    Ok(TableCreation::builder()
        .name(id.table.as_str().to_string())
        .location(id.location(warehouse))
        .schema(schema)
        .partition_spec(spec)
        .sort_order(order)
        .format_version(FormatVersion::V2)
        .properties(properties(id.table))
        .build())
}

#[cfg(test)]
mod tests;
