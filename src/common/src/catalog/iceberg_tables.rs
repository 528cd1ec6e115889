//! Our own statements on the catalog's `iceberg_tables`: reads the iceberg client has no API
//! for, and the commit's compare-and-swap.

use iceberg::{NamespaceIdent, TableIdent};
use sqlx::Row;

use super::connection::SignalCatalog;
use super::error::CatalogError;

/// Selects the rows of Iceberg tables (not views) of one catalog name.
const TABLES_OF_CATALOG: &str = "SELECT table_namespace, table_name FROM iceberg_tables \
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

impl SignalCatalog {
    /// Every table registered under this catalog name, read from `iceberg_tables`.
    ///
    /// The SQL catalog's namespace listing only sees parents that were created explicitly;
    /// reading the table rows finds every table whoever created it.
    pub async fn list_table_idents(&self) -> Result<Vec<TableIdent>, CatalogError> {
        let sql = self.dialect().sql(TABLES_OF_CATALOG);
        let query_err = |source| CatalogError::Query { name: self.name().to_string(), source };
        let rows =
            sqlx::query(&sql).bind(self.name()).fetch_all(self.pool()).await.map_err(query_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let namespace: String = row.try_get(0).map_err(query_err)?;
            let name: String = row.try_get(1).map_err(query_err)?;
            if let Ok(ns) = NamespaceIdent::from_strs(namespace.split('.')) {
                out.push(TableIdent::new(ns, name));
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
        let query_err = |source| CatalogError::Query { name: self.name().to_string(), source };
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
            .map_err(|source| CatalogError::Query { name: self.name().to_string(), source })?;
        Ok(result.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::SqlDialect;
    use crate::config::CatalogBackend;

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
