//! The signal table model: one Iceberg namespace `[tenant, dataset]` per tenant and dataset,
//! holding the tables `traces`, `logs` and `metrics`.
//!
//! Every table is format version 2, partitioned by `hour(timestamp)` with the partition field
//! named `hour`, and located at `{warehouse}/{tenant}/{dataset}/{table}` so that its data files
//! land under `…/{table}/data/hour=YYYY-MM-DD-HH/`. The schemas are documented in
//! `docs/tables.md`; field ids are part of the on-disk format and never change.
//!
//! This module is the model only: [`crate::catalog`] creates and finds the tables in a catalog
//! ([`ensure_table`](crate::catalog::ensure_table),
//! [`list_signal_tables`](crate::catalog::list_signal_tables)).

use std::collections::HashMap;
use std::fmt;

use iceberg::spec::{
    FormatVersion, NestedField, NullOrder, PrimitiveType, Schema, SortDirection, SortField,
    SortOrder, Transform, Type, UnboundPartitionSpec,
};
use iceberg::{NamespaceIdent, TableCreation, TableIdent};

use crate::ids::{InvalidId, validate_id};
use crate::signal::Signal;

/// Name of the timestamp column every signal table is partitioned on.
pub const TIMESTAMP_COLUMN: &str = "timestamp";
/// Name of the partition field produced by `hour(timestamp)`.
pub const HOUR_PARTITION_FIELD: &str = "hour";

/// Errors from building, naming or creating signal tables.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A tenant or dataset id does not follow the id rule.
    #[error("invalid {what}: {source}")]
    InvalidId {
        /// `tenant` or `dataset`.
        what: &'static str,
        /// Why the id was refused.
        source: InvalidId,
    },
    /// An Iceberg name is not `tenant.dataset.table` with a known signal table.
    #[error("`{0}` is not a signal table (expected <tenant>.<dataset>.<traces|logs|metrics>)")]
    NotASignalTable(String),
    /// The Iceberg library or the catalog refused an operation on a table.
    #[error("{action} table {table}: {source}")]
    Iceberg {
        /// What was being done.
        action: &'static str,
        /// The table concerned, as `tenant.dataset.table`.
        table: String,
        /// The underlying error.
        source: Box<iceberg::Error>,
    },
}

/// One signal table: which tenant, dataset and signal it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    /// Tenant id, the first namespace level.
    pub tenant: String,
    /// Dataset id, the second namespace level.
    pub dataset: String,
    /// Signal, which is also the table name.
    pub signal: Signal,
}

impl TableId {
    /// Builds a table id after checking both ids against the id rule.
    pub fn new(tenant: &str, dataset: &str, signal: Signal) -> Result<Self, TableError> {
        validate_id(tenant).map_err(|source| TableError::InvalidId { what: "tenant", source })?;
        validate_id(dataset).map_err(|source| TableError::InvalidId { what: "dataset", source })?;
        Ok(Self { tenant: tenant.to_string(), dataset: dataset.to_string(), signal })
    }

    /// The Iceberg namespace `[tenant, dataset]`.
    pub fn namespace(&self) -> NamespaceIdent {
        NamespaceIdent::from_vec(vec![self.tenant.clone(), self.dataset.clone()])
            .expect("two non-empty levels form a valid namespace")
    }

    /// The Iceberg table identifier `tenant.dataset.signal`.
    pub fn ident(&self) -> TableIdent {
        TableIdent::new(self.namespace(), self.signal.as_str().to_string())
    }

    /// Recognises a signal table from its Iceberg identifier.
    pub fn from_ident(ident: &TableIdent) -> Result<Self, TableError> {
        let not_signal = || TableError::NotASignalTable(ident_string(ident));
        let levels = ident.namespace().as_ref();
        let [tenant, dataset] = levels.as_slice() else {
            return Err(not_signal());
        };
        let signal = Signal::from_table_name(ident.name()).ok_or_else(not_signal)?;
        Self::new(tenant, dataset, signal)
    }

    /// The table's location under `warehouse`: `{warehouse}/{tenant}/{dataset}/{table}`.
    pub fn location(&self, warehouse: &str) -> String {
        format!(
            "{}/{}/{}/{}",
            warehouse.trim_end_matches('/'),
            self.tenant,
            self.dataset,
            self.signal
        )
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.tenant, self.dataset, self.signal)
    }
}

fn ident_string(ident: &TableIdent) -> String {
    format!("{}.{}", ident.namespace().join("."), ident.name())
}

fn required(id: i32, name: &str, ty: PrimitiveType) -> NestedField {
    NestedField::required(id, name, Type::Primitive(ty))
}

fn optional(id: i32, name: &str, ty: PrimitiveType) -> NestedField {
    NestedField::optional(id, name, Type::Primitive(ty))
}

/// The Iceberg schema of a signal's table (schema id 0).
pub fn schema(signal: Signal) -> Schema {
    use PrimitiveType::{Double, Int, Long, String as Str, Timestamptz};
    let fields = match signal {
        Signal::Traces => vec![
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
        Signal::Logs => vec![
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
        Signal::Metrics => vec![
            required(1, TIMESTAMP_COLUMN, Timestamptz),
            required(2, "metric_name", Str),
            required(3, "metric_type", Str),
            required(4, "value", Double),
            optional(5, "unit", Str),
            required(6, "service_name", Str),
            optional(7, "attributes", Str),
            optional(8, "resource_attributes", Str),
        ],
    };
    Schema::builder()
        .with_schema_id(0)
        .with_fields(fields.into_iter().map(Into::into))
        .build()
        .expect("the built-in signal schemas are valid")
}

/// The partition spec of every signal table: `hour(timestamp)` named `hour`.
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
    }
}

/// The sort order (id 1) of a signal's table: its [`default_sort_columns`], identity
/// transforms, ascending with nulls first (Iceberg's default for ascending).
pub fn sort_order(signal: Signal) -> SortOrder {
    let schema = schema(signal);
    let fields = default_sort_columns(signal).iter().map(|name| SortField {
        source_id: schema.field_by_name(name).expect("default sort columns exist").id,
        transform: Transform::Identity,
        direction: SortDirection::Ascending,
        null_order: NullOrder::First,
    });
    SortOrder { order_id: 1, fields: fields.collect() }
}

/// The table-creation request for `id` under the warehouse location `warehouse`: the signal's
/// schema, `hour` partitioning and [`sort_order`].
pub fn creation(id: &TableId, warehouse: &str) -> TableCreation {
    TableCreation::builder()
        .name(id.signal.as_str().to_string())
        .location(id.location(warehouse))
        .schema(schema(id.signal))
        .partition_spec(partition_spec())
        .sort_order(sort_order(id.signal))
        .format_version(FormatVersion::V2)
        .properties(HashMap::from([(
            "write.parquet.compression-codec".to_string(),
            "zstd".to_string(),
        )]))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_has_a_required_timestamptz_first_and_unique_ids() {
        for s in Signal::ALL {
            let schema = schema(s);
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
        for s in Signal::ALL {
            let bound = partition_spec().bind(schema(s)).unwrap();
            let field = &bound.fields()[0];
            assert_eq!(field.name, HOUR_PARTITION_FIELD);
            assert_eq!(field.transform, Transform::Hour);
            assert_eq!(field.source_id, 1);
        }
    }

    #[test]
    fn ids_and_locations() {
        let id = TableId::new("acme", "prod", Signal::Logs).unwrap();
        assert_eq!(id.to_string(), "acme.prod.logs");
        assert_eq!(id.location("s3://b/wh/"), "s3://b/wh/acme/prod/logs");
        assert_eq!(TableId::from_ident(&id.ident()).unwrap(), id);
        assert!(TableId::new("Acme", "prod", Signal::Logs).is_err());
        let odd = TableIdent::from_strs(["acme", "prod", "spans"]).unwrap();
        assert!(matches!(TableId::from_ident(&odd), Err(TableError::NotASignalTable(_))));
    }
}
