//! Our own statements on the catalog's `iceberg_tables`: reads the iceberg client has no API
//! for, and the commit's compare-and-swap.

use iceberg::{NamespaceIdent, TableIdent};
use sqlx::Row;

use super::connection::SignalCatalog;
use super::error::CatalogError;

/// Selects the rows of Iceberg tables (not views) of one catalog name, with the metadata
/// location each points at.
const TABLES_OF_CATALOG: &str = "SELECT table_namespace, table_name, metadata_location \
     FROM iceberg_tables \
     WHERE catalog_name = ? AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)";

/// Selects the metadata location of one table.
const METADATA_LOCATION: &str = "SELECT metadata_location FROM iceberg_tables \
     WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? \
     AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)";

/// Moves one table from an expected metadata location to a new one.
const SWAP_METADATA_LOCATION: &str = "UPDATE iceberg_tables \
     SET metadata_location = ?, previous_metadata_location = ? \
     WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? \
     AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL) AND metadata_location = ?";

/// What a fenced swap requires in its own statement besides the expected metadata location:
/// a query that returns a row while the caller may still commit (the compactor's lease is
/// still held with its token, for one). The catalog knows nothing of the table it reads; the
/// caller owns both the query and its binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapCondition {
    /// A `SELECT`, written with `?` placeholders (rendered in the catalog's dialect with the
    /// swap's own), that finds a row while the condition holds.
    sql: String,
    /// The values of its placeholders, in order.
    binds: Vec<SqlValue>,
}

impl SwapCondition {
    /// The condition that `sql` (a `SELECT` with `?` placeholders) finds a row, its
    /// placeholders bound to `binds` in order.
    pub fn new(sql: impl Into<String>, binds: Vec<SqlValue>) -> Self {
        Self { sql: sql.into(), binds }
    }

    /// The query, with `?` placeholders.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// `q` with this condition's binds appended.
    fn bind<'q>(&'q self, mut q: AnyQuery<'q>) -> AnyQuery<'q> {
        for value in &self.binds {
            q = match value {
                SqlValue::Text(text) => q.bind(text.as_str()),
                SqlValue::Int(int) => q.bind(*int),
            };
        }
        q
    }
}

/// A value bound to a placeholder of a [`SwapCondition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    /// A string.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
}

/// A statement on the catalog database with its binds.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// How a compare-and-swap ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// The table now points at the new metadata.
    Swapped,
    /// Another writer committed first; nothing changed.
    Lost,
    /// The fence's lease is no longer held with its token; nothing changed.
    Fenced,
}

impl SignalCatalog {
    /// Every table registered under this catalog name, read from `iceberg_tables`.
    ///
    /// The SQL catalog's namespace listing only sees parents that were created explicitly;
    /// reading the table rows finds every table whoever created it.
    pub async fn list_table_idents(&self) -> Result<Vec<TableIdent>, CatalogError> {
        Ok(self.list_table_pointers().await?.into_iter().map(|(ident, _)| ident).collect())
    }

    /// Every table registered under this catalog name with the metadata location it points
    /// at (`None` when the row has none), in one statement on `iceberg_tables`: a commit by
    /// any writer changes a table's location, so an unchanged location is an unchanged table.
    pub async fn list_table_pointers(
        &self,
    ) -> Result<Vec<(TableIdent, Option<String>)>, CatalogError> {
        let sql = self.dialect().sql(TABLES_OF_CATALOG);
        let query_err = |source| self.query_error(source);
        let rows =
            sqlx::query(&sql).bind(self.name()).fetch_all(self.pool()).await.map_err(query_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let namespace: String = row.try_get(0).map_err(query_err)?;
            let name: String = row.try_get(1).map_err(query_err)?;
            let location: Option<String> = row.try_get(2).map_err(query_err)?;
            if let Ok(ns) = NamespaceIdent::from_strs(namespace.split('.')) {
                out.push((TableIdent::new(ns, name), location));
            }
        }
        Ok(out)
    }

    /// The metadata location `iceberg_tables` records for `table`, without reading the
    /// metadata file itself (which may be unreadable); `None` when the table is not registered.
    pub async fn metadata_location(
        &self,
        table: &TableIdent,
    ) -> Result<Option<String>, CatalogError> {
        let sql = self.dialect().sql(METADATA_LOCATION);
        let query_err = |source| self.query_error(source);
        let row = sqlx::query(&sql)
            .bind(self.name())
            .bind(table.namespace().join("."))
            .bind(table.name())
            .fetch_optional(self.pool())
            .await
            .map_err(query_err)?;
        row.map(|r| r.try_get::<Option<String>, _>(0))
            .transpose()
            .map_err(query_err)
            .map(Option::flatten)
    }

    /// Points `table` at `new` metadata if, and only if, it still points at `old`: the SQL
    /// catalog's optimistic compare-and-swap, the same statement iceberg-rust, pyiceberg's
    /// `SqlCatalog` and Java's `JdbcCatalog` commit with. `Ok(false)` means another writer
    /// committed first and nothing was changed.
    pub async fn swap_metadata_location(
        &self,
        table: &TableIdent,
        old: &str,
        new: &str,
    ) -> Result<bool, CatalogError> {
        let sql = self.dialect().sql(SWAP_METADATA_LOCATION);
        let result = sqlx::query(&sql)
            .bind(new)
            .bind(old)
            .bind(self.name())
            .bind(table.namespace().join("."))
            .bind(table.name())
            .bind(old)
            .execute(self.pool())
            .await
            .map_err(|source| self.query_error(source))?;
        Ok(result.rows_affected() == 1)
    }

    /// [`Self::swap_metadata_location`] that also requires, in the same statement, that
    /// `condition` holds (for the compactor: its lease on `table` is still held with its token
    /// and unexpired by the database's clock); when nothing was swapped, tells a lost race
    /// ([`Swap::Lost`]) from a condition that no longer holds ([`Swap::Fenced`]).
    pub async fn swap_metadata_location_fenced(
        &self,
        table: &TableIdent,
        old: &str,
        new: &str,
        condition: &SwapCondition,
    ) -> Result<Swap, CatalogError> {
        let query_err = |source| self.query_error(source);
        let namespace = table.namespace().join(".");
        let sql = self.dialect().sql(&fenced_swap(condition));
        let swap = sqlx::query(&sql)
            .bind(new)
            .bind(old)
            .bind(self.name())
            .bind(&namespace)
            .bind(table.name())
            .bind(old);
        let result = condition.bind(swap).execute(self.pool()).await.map_err(query_err)?;
        if result.rows_affected() == 1 {
            return Ok(Swap::Swapped);
        }
        let check = self.dialect().sql(condition.sql());
        let held = condition
            .bind(sqlx::query(&check))
            .fetch_optional(self.pool())
            .await
            .map_err(query_err)?;
        Ok(if held.is_some() { Swap::Lost } else { Swap::Fenced })
    }
}

/// The fenced swap's statement: the compare-and-swap, and `condition` in the same statement.
fn fenced_swap(condition: &SwapCondition) -> String {
    format!("{SWAP_METADATA_LOCATION} AND EXISTS ({})", condition.sql())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::SqlDialect;
    use crate::config::CatalogBackend;

    #[test]
    fn the_fenced_swap_numbers_its_placeholders_through_the_condition() {
        let pg = SqlDialect::new(CatalogBackend::Postgres);
        let condition = SwapCondition::new(
            "SELECT 1 FROM leases WHERE catalog_name = ? AND table_namespace = ? \
             AND table_name = ? AND job = ? AND owner = ? AND token = ? AND expires_at_ms > 0",
            Vec::new(),
        );
        let sql = pg.sql(&fenced_swap(&condition));
        assert!(sql.contains("metadata_location = $6 AND EXISTS (SELECT 1 FROM "), "{sql}");
        assert!(sql.ends_with("AND owner = $11 AND token = $12 AND expires_at_ms > 0)"), "{sql}");
    }

    #[test]
    fn postgres_statements_number_their_placeholders_in_bind_order() {
        let pg = SqlDialect::new(CatalogBackend::Postgres);
        assert!(pg.sql(TABLES_OF_CATALOG).contains("WHERE catalog_name = $1 AND (iceberg_type"));
        assert!(pg.sql(METADATA_LOCATION).contains(
            "WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3 AND (iceberg_type"
        ));
        assert_eq!(
            pg.sql(SWAP_METADATA_LOCATION),
            "UPDATE iceberg_tables SET metadata_location = $1, previous_metadata_location = $2 \
             WHERE catalog_name = $3 AND table_namespace = $4 AND table_name = $5 \
             AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL) AND metadata_location = $6"
        );
    }
}
