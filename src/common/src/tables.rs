//! The signal table model: one Iceberg namespace `[tenant, dataset]` per tenant and dataset,
//! holding one table per [`TableKind`], located at `{warehouse}/{tenant}/{dataset}/{table}`.
//!
//! The compactor maintains tables of either layout it knows (`docs/tables.md`); this module
//! creates tables of the classic layout: `traces`, `logs` and `metrics`, format version 2,
//! partitioned by `hour(timestamp)` with the partition field named `hour`, so that data files
//! land under `…/{table}/data/hour=YYYY-MM-DD-HH/`. Field ids are part of the on-disk format
//! and never change.
//!
//! This module is the model only: [`crate::catalog`] creates and finds the tables in a catalog
//! ([`ensure_table`](crate::catalog::ensure_table),
//! [`list_signal_tables`](crate::catalog::list_signal_tables)).

use std::collections::HashMap;
use std::fmt;

use iceberg::TableCreation;
use iceberg::spec::{
    FormatVersion, NestedField, PrimitiveType, Schema, SortOrder, Transform, Type,
    UnboundPartitionSpec,
};

use crate::signal::Signal;
use crate::table_kind::TableKind;

mod columns;
mod id;
pub mod signaldb;

pub use columns::{HOUR_PARTITION_FIELD, TIMESTAMP_COLUMN, sort_order_on};
pub use id::{TableError, TableId};

fn required(id: i32, name: &str, ty: PrimitiveType) -> NestedField {
    NestedField::required(id, name, Type::Primitive(ty))
}

fn optional(id: i32, name: &str, ty: PrimitiveType) -> NestedField {
    NestedField::optional(id, name, Type::Primitive(ty))
}

/// The classic layout's name in messages.
pub const CLASSIC_LAYOUT: &str = "classic";

/// The Iceberg schema (id 0) of the classic layout's table `table`, if the layout has it.
pub fn schema(table: TableKind) -> Option<Schema> {
    use PrimitiveType::{Double, Int, Long, String as Str, Timestamptz};
    let fields = match table {
        TableKind::Traces => vec![
            required(1, TIMESTAMP_COLUMN, Timestamptz),
            required(2, "trace_id", Str),
            required(3, "span_id", Str),
            optional(4, "parent_span_id", Str),
            required(5, "name", Str),
            required(6, "kind", Str),
            required(7, "service_name", Str),
            required(8, "duration_ns", Long),
            required(9, "status_code", Str),
            optional(10, "status_message", Str),
            optional(11, "attributes", Str),
            optional(12, "resource_attributes", Str),
        ],
        TableKind::Logs => vec![
            required(1, TIMESTAMP_COLUMN, Timestamptz),
            required(2, "severity_number", Int),
            required(3, "severity_text", Str),
            required(4, "body", Str),
            required(5, "service_name", Str),
            optional(6, "trace_id", Str),
            optional(7, "span_id", Str),
            optional(8, "attributes", Str),
            optional(9, "resource_attributes", Str),
        ],
        TableKind::Metrics => vec![
            required(1, TIMESTAMP_COLUMN, Timestamptz),
            required(2, "metric_name", Str),
            required(3, "metric_type", Str),
            required(4, "value", Double),
            optional(5, "unit", Str),
            required(6, "service_name", Str),
            optional(7, "attributes", Str),
            optional(8, "resource_attributes", Str),
        ],
        _ => return None,
    };
    let schema = Schema::builder()
        .with_schema_id(0)
        .with_fields(fields.into_iter().map(Into::into))
        .build()
        .expect("the built-in signal schemas are valid");
    Some(schema)
}

/// The top-level column names of every table of `signal`, in every layout the compactor knows,
/// sorted and without repeats: what a configured sort column may name.
pub fn known_columns(signal: Signal) -> Vec<String> {
    let mut names: Vec<String> = Layout::ALL
        .into_iter()
        .flat_map(|layout| layout.tables_of(signal).filter_map(move |k| layout.schema(k)))
        .flat_map(|s| s.as_struct().fields().iter().map(|f| f.name.clone()).collect::<Vec<_>>())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The partition spec of every classic table: `hour(timestamp)` named `hour`.
pub fn partition_spec() -> UnboundPartitionSpec {
    UnboundPartitionSpec::builder()
        .with_spec_id(0)
        .add_partition_field(1, HOUR_PARTITION_FIELD, Transform::Hour)
        .expect("hour(timestamp) is a valid partition field")
        .build()
}

/// The columns a signal's queries look rows up by, most selective first: the order compaction
/// sorts by unless configured otherwise, and the sort order tables are created with.
pub fn default_sort_columns(signal: Signal) -> &'static [&'static str] {
    match signal {
        Signal::Traces => &["trace_id", TIMESTAMP_COLUMN],
        Signal::Logs => &["service_name", "severity_number", TIMESTAMP_COLUMN],
        Signal::Metrics => &["metric_name", "service_name", TIMESTAMP_COLUMN],
        Signal::Profiles => &["service_name", TIMESTAMP_COLUMN],
    }
}

/// The sort order (id 1) of a classic table: its signal's [`default_sort_columns`].
pub fn sort_order(table: TableKind) -> Option<SortOrder> {
    Some(sort_order_on(&schema(table)?, default_sort_columns(table.signal())))
}

/// The table-creation request for the classic table `id` under the warehouse location
/// `warehouse`: the signal's schema, `hour` partitioning and [`sort_order`].
pub fn creation(id: &TableId, warehouse: &str) -> Result<TableCreation, TableError> {
    let not_in_layout = TableError::NotInLayout { layout: CLASSIC_LAYOUT, table: id.table };
    let (Some(schema), Some(order)) = (schema(id.table), sort_order(id.table)) else {
        return Err(not_in_layout);
    };
    Ok(TableCreation::builder()
        .name(id.table.as_str().to_string())
        .location(id.location(warehouse))
        .schema(schema)
        .partition_spec(partition_spec())
        .sort_order(order)
        .format_version(FormatVersion::V2)
        .properties(HashMap::from([(
            "write.parquet.compression-codec".to_string(),
            "zstd".to_string(),
        )]))
        .build())
}

/// A set of tables, with their schemas, partitioning, sort orders and properties, that a
/// dataset's namespace holds.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `classic`: `traces`, `logs` and `metrics`, partitioned by `hour(timestamp)` into a field
    /// named `hour` (this module's [`schema`] and [`creation`]).
    #[default]
    Classic,
    /// `signaldb`: the eight tables SignalDB's writer creates ([`TableKind::SIGNALDB`]),
    /// partitioned by `hour(timestamp)` into a field named `timestamp_hour`
    /// ([`signaldb::schema`] and [`signaldb::creation`]).
    Signaldb,
}

impl Layout {
    /// Every layout.
    pub const ALL: [Layout; 2] = [Layout::Classic, Layout::Signaldb];

    /// The layout's name: `classic` or `signaldb`.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Classic => CLASSIC_LAYOUT,
            Layout::Signaldb => signaldb::LAYOUT,
        }
    }

    /// The tables every dataset of this layout holds.
    pub fn tables(self) -> &'static [TableKind] {
        match self {
            Layout::Classic => &TableKind::SIGNAL_NAMED,
            Layout::Signaldb => &TableKind::SIGNALDB,
        }
    }

    /// The tables of this layout that hold `signal`, in [`Self::tables`] order (none for
    /// profiles in the classic layout).
    pub fn tables_of(self, signal: Signal) -> impl Iterator<Item = TableKind> {
        self.tables().iter().copied().filter(move |t| t.signal() == signal)
    }

    /// The Iceberg schema this layout creates `table` with, if it has the table.
    pub fn schema(self, table: TableKind) -> Option<Schema> {
        match self {
            Layout::Classic => schema(table),
            Layout::Signaldb => signaldb::schema(table),
        }
    }

    /// The table-creation request for the table `id` of this layout under `warehouse`;
    /// [`TableError::NotInLayout`] when the layout has no such table.
    pub fn creation(self, id: &TableId, warehouse: &str) -> Result<TableCreation, TableError> {
        match self {
            Layout::Classic => creation(id, warehouse),
            Layout::Signaldb => signaldb::creation(id, warehouse),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a string that names no layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown layout `{0}`: expected classic or signaldb")]
pub struct UnknownLayout(pub String);

impl std::str::FromStr for Layout {
    type Err = UnknownLayout;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Layout::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownLayout(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use iceberg::TableIdent;

    use super::*;

    #[test]
    fn every_schema_has_a_required_timestamptz_first_and_unique_ids() {
        for s in TableKind::SIGNAL_NAMED {
            let schema = schema(s).unwrap();
            let ts = schema.field_by_name(TIMESTAMP_COLUMN).unwrap();
            assert_eq!(ts.id, 1);
            assert!(ts.required);
            assert_eq!(*ts.field_type, Type::Primitive(PrimitiveType::Timestamptz));
            let ids: Vec<i32> = schema.as_struct().fields().iter().map(|f| f.id).collect();
            let expected: Vec<i32> = (1..=ids.len() as i32).collect();
            assert_eq!(ids, expected, "{s}");
        }
    }

    #[test]
    fn partition_spec_binds_to_every_schema_as_hour_field() {
        assert!(schema(TableKind::Profiles).is_none());
        for s in TableKind::SIGNAL_NAMED {
            let bound = partition_spec().bind(schema(s).unwrap()).unwrap();
            let field = &bound.fields()[0];
            assert_eq!(field.name, HOUR_PARTITION_FIELD);
            assert_eq!(field.transform, Transform::Hour);
            assert_eq!(field.source_id, 1);
        }
    }

    #[test]
    fn ids_and_locations() {
        let id = TableId::new("acme", "prod", TableKind::Logs).unwrap();
        assert_eq!(id.to_string(), "acme.prod.logs");
        assert_eq!(id.location("s3://b/wh/"), "s3://b/wh/acme/prod/logs");
        assert_eq!(TableId::from_ident(&id.ident()).unwrap(), id);
        assert!(TableId::new("Acme", "prod", TableKind::Logs).is_err());
        let gauge = TableIdent::from_strs(["acme", "prod", "metrics_gauge"]).unwrap();
        let gauge = TableId::from_ident(&gauge).unwrap();
        assert_eq!((gauge.table, gauge.signal()), (TableKind::MetricsGauge, Signal::Metrics));
        let odd = TableIdent::from_strs(["acme", "prod", "spans"]).unwrap();
        assert!(matches!(TableId::from_ident(&odd), Err(TableError::NotASignalTable(_))));
    }
}
