//! The order a table's compacted rows are written in: the table's own default sort order when
//! it has a usable one, else the configured columns of its signal (`[compactor.sort]`).
//!
//! Per the Iceberg spec a data file's `sort_order_id` must name an order of the table's
//! metadata, so output files record the table's order id, or the id of a table order equal to
//! the configured one; a configured order the table does not have leaves it unset.

use iceberg::spec::{NullOrder, SortDirection, SortOrder, TableMetadata, Transform};
use serde::{Deserialize, Serialize};

/// One column of an output order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortColumn {
    /// The column's name in the table's current schema.
    pub column: String,
    /// Largest values first.
    pub descending: bool,
    /// Nulls before every value.
    pub nulls_first: bool,
}

/// Where an output order came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSource {
    /// The table's default sort order, set by its writer.
    Table,
    /// `[compactor.sort]` for the table's signal.
    Config,
}

/// How a table's compaction output is sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputOrder {
    /// The sort columns, most significant first.
    pub columns: Vec<SortColumn>,
    /// Where the order came from.
    pub source: OrderSource,
    /// The table sort order the output files record, when the table has this order.
    pub sort_order_id: Option<i64>,
    /// Why the table's default sort order was not used, when it has one that was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_order_ignored: Option<String>,
}

impl OutputOrder {
    /// `trace_id, timestamp` (with `desc` and `nulls last` where they apply).
    pub fn describe(&self) -> String {
        let column = |c: &SortColumn| {
            let mut s = c.column.clone();
            if c.descending {
                s.push_str(" desc");
            }
            // Ascending puts nulls first by default, descending last (Iceberg's defaults).
            if c.nulls_first == c.descending {
                s.push_str(if c.nulls_first { " nulls first" } else { " nulls last" });
            }
            s
        };
        self.columns.iter().map(column).collect::<Vec<_>>().join(", ")
    }
}

/// A configured sort column the table does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("table {table} has no column `{column}` to sort by (compactor.sort.{signal})")]
pub struct MissingSortColumn {
    /// The table.
    pub table: String,
    /// Its signal, naming the configuration key.
    pub signal: String,
    /// The column.
    pub column: String,
}

/// The output order of a table with metadata `md`: its default sort order when usable, else
/// `configured` (ascending, nulls first); `None` when neither sorts. `table` and `signal` name
/// the table and its configuration key in errors.
pub(crate) fn resolve(
    md: &TableMetadata,
    configured: &[String],
    table: &str,
    signal: &str,
) -> Result<Option<OutputOrder>, MissingSortColumn> {
    let default = md.default_sort_order();
    let mut ignored = None;
    if !default.is_unsorted() {
        match table_columns(md, default) {
            Ok(columns) => {
                return Ok(Some(OutputOrder {
                    columns,
                    source: OrderSource::Table,
                    sort_order_id: Some(default.order_id),
                    table_order_ignored: None,
                }));
            }
            Err(reason) => ignored = Some(reason),
        }
    }
    if configured.is_empty() {
        return Ok(None);
    }
    let schema = md.current_schema();
    let mut columns = Vec::new();
    for name in configured {
        match schema.field_by_name(name) {
            Some(f) if f.field_type.is_primitive() => {}
            _ => {
                return Err(MissingSortColumn {
                    table: table.to_string(),
                    signal: signal.to_string(),
                    column: name.clone(),
                });
            }
        }
        columns.push(SortColumn { column: name.clone(), descending: false, nulls_first: true });
    }
    let sort_order_id = md
        .sort_orders_iter()
        .find(|o| !o.is_unsorted() && table_columns(md, o).as_ref() == Ok(&columns))
        .map(|o| o.order_id);
    Ok(Some(OutputOrder {
        columns,
        source: OrderSource::Config,
        sort_order_id,
        table_order_ignored: ignored,
    }))
}

/// The columns of table order `order`, when each field is an identity transform of a
/// primitive column of the current schema; else why not.
fn table_columns(md: &TableMetadata, order: &SortOrder) -> Result<Vec<SortColumn>, String> {
    let schema = md.current_schema();
    order
        .fields
        .iter()
        .map(|f| {
            let field = schema
                .field_by_id(f.source_id)
                .ok_or_else(|| format!("sort field {} names no current column", f.source_id))?;
            if f.transform != Transform::Identity {
                return Err(format!(
                    "{}({}) is not an identity transform",
                    f.transform, field.name
                ));
            }
            if !field.field_type.is_primitive() {
                return Err(format!("column {} is not a primitive type", field.name));
            }
            Ok(SortColumn {
                column: field.name.clone(),
                descending: f.direction == SortDirection::Descending,
                nulls_first: f.null_order == NullOrder::First,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use common::TableKind;
    use common::tables::{TableId, creation, sort_order};
    use iceberg::spec::{SortField, TableMetadataBuilder};

    use super::*;

    fn metadata(order: Option<SortOrder>) -> TableMetadata {
        let id = TableId::new("acme", "prod", TableKind::Traces).unwrap();
        let mut creation = creation(&id, "file:///wh").unwrap();
        creation.sort_order = order;
        TableMetadataBuilder::from_table_creation(creation).unwrap().build().unwrap().metadata
    }

    fn names(order: &OutputOrder) -> Vec<&str> {
        order.columns.iter().map(|c| c.column.as_str()).collect()
    }

    fn configured(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn the_table_order_wins_over_the_configured_columns() {
        let md = metadata(Some(sort_order(TableKind::Traces).unwrap()));
        let order = resolve(&md, &configured(&["span_id"]), "t", "traces").unwrap().unwrap();
        assert_eq!(order.source, OrderSource::Table);
        assert_eq!(names(&order), ["trace_id", "timestamp"]);
        assert_eq!(order.sort_order_id, Some(1));
        assert_eq!(order.describe(), "trace_id, timestamp");
    }

    #[test]
    fn a_table_order_keeps_its_direction_and_null_order() {
        let order = SortOrder {
            order_id: 1,
            fields: vec![SortField {
                source_id: 8,
                transform: Transform::Identity,
                direction: SortDirection::Descending,
                null_order: NullOrder::First,
            }],
        };
        let md = metadata(Some(order));
        let out = resolve(&md, &[], "t", "traces").unwrap().unwrap();
        assert_eq!(
            out.columns,
            [SortColumn { column: "duration_ns".into(), descending: true, nulls_first: true }]
        );
        assert_eq!(out.describe(), "duration_ns desc nulls first");
    }

    #[test]
    fn an_unsorted_table_takes_the_configured_order_without_an_id() {
        let md = metadata(None);
        let order =
            resolve(&md, &configured(&["trace_id", "timestamp"]), "t", "traces").unwrap().unwrap();
        assert_eq!(order.source, OrderSource::Config);
        assert_eq!(order.sort_order_id, None, "the table has no such order");
        assert_eq!(resolve(&md, &[], "t", "traces").unwrap(), None);
    }

    #[test]
    fn a_non_identity_table_order_falls_back_to_the_configured_one() {
        let order = SortOrder {
            order_id: 1,
            fields: vec![SortField {
                source_id: 2,
                transform: Transform::Bucket(16),
                direction: SortDirection::Ascending,
                null_order: NullOrder::First,
            }],
        };
        let md = metadata(Some(order));
        let out = resolve(&md, &configured(&["trace_id"]), "t", "traces").unwrap().unwrap();
        assert_eq!(out.source, OrderSource::Config);
        assert!(out.table_order_ignored.unwrap().contains("not an identity"));
    }

    #[test]
    fn a_configured_column_the_table_lacks_names_table_and_column() {
        let md = metadata(None);
        let err = resolve(&md, &configured(&["trace_id", "nope"]), "acme.prod.traces", "traces")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "table acme.prod.traces has no column `nope` to sort by (compactor.sort.traces)"
        );
    }
}
