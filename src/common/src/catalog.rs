//! Connecting the Iceberg SQL catalog (SQLite embedded, PostgreSQL in production).
//!
//! The catalog stores one row per table in `iceberg_tables`, keyed by `catalog_name`
//! (`[schema] catalog_name`), namespace (dotted, `acme.prod`) and table name. Any client that
//! opens the same database with the same catalog name — pyiceberg's `SqlCatalog`, Java's
//! `JdbcCatalog` — sees the same tables. All table files go through the warehouse's object store.

use std::collections::HashMap;
use std::path::Path;

use iceberg::{CatalogBuilder, NamespaceIdent, TableIdent};
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalog, SqlCatalogBuilder};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

use crate::config::{CatalogBackend, InvalidUri, SchemaConfig};
use crate::storage::Warehouse;

/// Errors from connecting the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// `schema.catalog_uri` names no supported database.
    #[error("schema.catalog_uri: {reason}")]
    InvalidUri {
        /// What is wrong with it (names the URI, password redacted).
        reason: String,
    },
    /// The directory of a SQLite catalog file could not be created.
    #[error("creating the directory of SQLite catalog `{path}`: {source}")]
    SqliteDir {
        /// The directory.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The database refused the connection or the catalog could not initialise its tables.
    #[error("connecting Iceberg catalog `{name}` at {uri}: {source}")]
    Connect {
        /// The catalog name.
        name: String,
        /// The URI, with any password redacted.
        uri: String,
        /// The underlying error.
        source: Box<iceberg::Error>,
    },
    /// A query against the catalog database failed.
    #[error("querying Iceberg catalog `{name}`: {source}")]
    Query {
        /// The catalog name.
        name: String,
        /// The underlying error.
        source: sqlx::Error,
    },
}

/// The placeholder style of `backend`'s SQL dialect.
pub fn bind_style(backend: CatalogBackend) -> SqlBindStyle {
    match backend {
        CatalogBackend::Sqlite => SqlBindStyle::QMark,
        CatalogBackend::Postgres => SqlBindStyle::DollarNumeric,
    }
}

/// A connected Iceberg SQL catalog and the warehouse its tables live in.
#[derive(Debug)]
pub struct SignalCatalog {
    catalog: SqlCatalog,
    pool: AnyPool,
    name: String,
    uri: String,
    backend: CatalogBackend,
    warehouse: Warehouse,
}

impl SignalCatalog {
    /// Connects the catalog described by `[schema]`, creating its tables if this is a new
    /// database (and, for SQLite, the database file and its directory).
    pub async fn connect(
        schema: &SchemaConfig,
        warehouse: &Warehouse,
    ) -> Result<Self, CatalogError> {
        let redacted = crate::config::redact_uri(&schema.catalog_uri);
        let backend =
            schema.backend().map_err(|InvalidUri(reason)| CatalogError::InvalidUri { reason })?;
        let uri = match backend {
            CatalogBackend::Sqlite => sqlite_uri(&schema.catalog_uri)?,
            CatalogBackend::Postgres => schema.catalog_uri.clone(),
        };
        let catalog = SqlCatalogBuilder::default()
            .uri(uri.clone())
            .warehouse_location(warehouse.location())
            .sql_bind_style(bind_style(backend))
            .with_storage_factory(warehouse.storage_factory())
            .load(schema.catalog_name.clone(), HashMap::new())
            .await
            .map_err(|source| CatalogError::Connect {
                name: schema.catalog_name.clone(),
                uri: redacted,
                source: Box::new(source),
            })?;
        // Our own pool on the same database serves queries the iceberg client has no API for.
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new().max_connections(4).connect(&uri).await.map_err(|e| {
            CatalogError::Connect {
                name: schema.catalog_name.clone(),
                uri: crate::config::redact_uri(&uri),
                source: Box::new(iceberg::Error::new(
                    iceberg::ErrorKind::Unexpected,
                    e.to_string(),
                )),
            }
        })?;
        Ok(Self {
            catalog,
            pool,
            name: schema.catalog_name.clone(),
            uri,
            backend,
            warehouse: warehouse.clone(),
        })
    }

    /// The iceberg catalog client.
    pub fn catalog(&self) -> &SqlCatalog {
        &self.catalog
    }

    /// The catalog name (the `catalog_name` column other clients must use).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database URI in the form sqlx accepts (may contain a password: never log it).
    pub fn database_uri(&self) -> &str {
        &self.uri
    }

    /// The sqlx pool on the catalog database, for bookkeeping tables of our own (never for
    /// `iceberg_tables`, which only the commit path changes).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database engine holds the catalog.
    pub fn backend(&self) -> CatalogBackend {
        self.backend
    }

    /// The warehouse all tables of this catalog are stored in.
    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// Every table registered under this catalog name, read from `iceberg_tables`.
    ///
    /// The SQL catalog's namespace listing only sees parents that were created explicitly;
    /// reading the table rows finds every table whoever created it.
    pub async fn list_table_idents(&self) -> Result<Vec<TableIdent>, CatalogError> {
        let sql = match self.backend {
            CatalogBackend::Sqlite => {
                "SELECT table_namespace, table_name FROM iceberg_tables \
                 WHERE catalog_name = ? AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)"
            }
            CatalogBackend::Postgres => {
                "SELECT table_namespace, table_name FROM iceberg_tables \
                 WHERE catalog_name = $1 AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)"
            }
        };
        let query_err = |source| CatalogError::Query { name: self.name.clone(), source };
        let rows =
            sqlx::query(sql).bind(&self.name).fetch_all(&self.pool).await.map_err(query_err)?;
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
        let sql = match self.backend {
            CatalogBackend::Sqlite => {
                "SELECT metadata_location FROM iceberg_tables \
                 WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? \
                 AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)"
            }
            CatalogBackend::Postgres => {
                "SELECT metadata_location FROM iceberg_tables \
                 WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3 \
                 AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)"
            }
        };
        let query_err = |source| CatalogError::Query { name: self.name.clone(), source };
        let row = sqlx::query(sql)
            .bind(&self.name)
            .bind(table.namespace().join("."))
            .bind(table.name())
            .fetch_optional(&self.pool)
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
        let sql = match self.backend {
            CatalogBackend::Sqlite => {
                "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ? \
                 WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? \
                 AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL) AND metadata_location = ?"
            }
            CatalogBackend::Postgres => {
                "UPDATE iceberg_tables SET metadata_location = $1, previous_metadata_location = $2 \
                 WHERE catalog_name = $3 AND table_namespace = $4 AND table_name = $5 \
                 AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL) AND metadata_location = $6"
            }
        };
        let result = sqlx::query(sql)
            .bind(new)
            .bind(old)
            .bind(&self.name)
            .bind(table.namespace().join("."))
            .bind(table.name())
            .bind(old)
            .execute(&self.pool)
            .await
            .map_err(|source| CatalogError::Query { name: self.name.clone(), source })?;
        Ok(result.rows_affected() == 1)
    }

    /// The warehouse location URI, the default root of new tables.
    pub fn warehouse_location(&self) -> &str {
        self.warehouse.location()
    }
}

/// Turns `sqlite://path` into the form sqlx needs to create a missing file (`?mode=rwc`), and
/// creates the file's directory.
fn sqlite_uri(uri: &str) -> Result<String, CatalogError> {
    if uri.starts_with("sqlite::memory:") || uri.contains("mode=memory") {
        return Ok(uri.to_string());
    }
    let rest = uri.strip_prefix("sqlite://").ok_or_else(|| CatalogError::InvalidUri {
        reason: "expected sqlite://<path> or sqlite::memory:".into(),
    })?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(CatalogError::InvalidUri { reason: "the database path is empty".into() });
    }
    if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| CatalogError::SqliteDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    Ok(match query {
        "" => format!("sqlite://{path}?mode=rwc"),
        q if q.contains("mode=") => uri.to_string(),
        q => format!("sqlite://{path}?{q}&mode=rwc"),
    })
}

#[cfg(test)]
mod tests {
    use iceberg::Catalog;

    use super::*;
    use crate::config::StorageConfig;
    use crate::signal::Signal;
    use crate::tables::{TableId, ensure_table, list_signal_tables};

    #[test]
    fn sqlite_uris_get_create_mode_and_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("nested/dir/catalog.db");
        let uri = sqlite_uri(&format!("sqlite://{}", db.display())).unwrap();
        assert_eq!(uri, format!("sqlite://{}?mode=rwc", db.display()));
        assert!(db.parent().unwrap().is_dir());
        assert_eq!(sqlite_uri("sqlite::memory:").unwrap(), "sqlite::memory:");
        assert!(sqlite_uri("sqlite://").is_err());
    }

    #[tokio::test]
    async fn sqlite_catalog_creates_lists_and_reopens_signal_tables() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = StorageConfig {
            dsn: format!("file://{}/storage", tmp.path().display()),
            ..Default::default()
        };
        let schema = SchemaConfig {
            catalog_uri: format!("sqlite://{}/catalog.db", tmp.path().display()),
            ..Default::default()
        };
        let warehouse = Warehouse::open(&storage).unwrap();
        let catalog = SignalCatalog::connect(&schema, &warehouse).await.unwrap();
        for signal in Signal::ALL {
            let id = TableId::new("acme", "prod", signal).unwrap();
            let table = ensure_table(&catalog, &id).await.unwrap();
            assert_eq!(table.metadata().location(), id.location(warehouse.location()));
            // A second call loads rather than fails.
            ensure_table(&catalog, &id).await.unwrap();
        }
        ensure_table(&catalog, &TableId::new("other", "dev", Signal::Logs).unwrap()).await.unwrap();

        let reopened = SignalCatalog::connect(&schema, &warehouse).await.unwrap();
        let all = list_signal_tables(&reopened, None, None).await.unwrap();
        assert_eq!(all.len(), 4);
        let acme = list_signal_tables(&reopened, Some("acme"), Some("prod")).await.unwrap();
        assert_eq!(acme.iter().map(|t| t.signal).collect::<Vec<_>>(), Signal::ALL);
        let table = reopened.catalog().load_table(&acme[0].ident()).await.unwrap();
        assert_eq!(table.metadata().default_partition_spec().fields()[0].name, "hour");
    }

    #[tokio::test]
    async fn unsupported_uri_names_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let storage =
            StorageConfig { dsn: format!("file://{}", tmp.path().display()), ..Default::default() };
        let schema = SchemaConfig {
            catalog_uri: "mysql://root:hunter2@127.0.0.1/db".into(),
            ..Default::default()
        };
        let warehouse = Warehouse::open(&storage).unwrap();
        let err = SignalCatalog::connect(&schema, &warehouse).await.unwrap_err().to_string();
        assert!(err.contains("schema.catalog_uri"), "{err}");
        assert!(!err.contains("hunter2"), "password leaked: {err}");
    }
}
