//! Connecting the catalog: the iceberg client and our own pool on the same database.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use iceberg::CatalogBuilder;
use iceberg::table::Table;
use iceberg_catalog_sql::{SqlCatalog, SqlCatalogBuilder};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use super::dialect::{SqlDialect, bind_style};
use super::error::CatalogError;
use super::observe::{CatalogErrorKind, CatalogObserver};
use crate::config::{CatalogBackend, InvalidUri, SchemaConfig};
use crate::storage::Warehouse;

/// How long connecting to a database server, or waiting for a free connection of our pool, may
/// take before it counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest one statement of ours may run on a PostgreSQL catalog (`statement_timeout`).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens (and closes) one connection to the server at `uri`, so that a refused or silent
/// server is reported at once with its own error, not after the pools' 30 s acquire timeout
/// as "pool timed out while waiting for an open connection".
async fn probe(uri: &str) -> Result<(), iceberg::Error> {
    use iceberg::{Error, ErrorKind};
    use sqlx::Connection;
    match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect(uri)).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        // The sqlx error is kept as the source: it says why, and classifies the failure.
        Ok(Err(e)) => Err(Error::new(ErrorKind::Unexpected, "connecting failed").with_source(e)),
        Err(_) => Err(Error::new(
            ErrorKind::Unexpected,
            format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        )),
    }
}

/// A connected Iceberg SQL catalog and the warehouse its tables live in.
#[derive(Debug)]
pub struct SignalCatalog {
    catalog: SqlCatalog,
    pool: AnyPool,
    name: String,
    /// May hold a password: a [`Secret`](crate::config::Secret), so `Debug` never shows it.
    uri: crate::config::Secret,
    dialect: SqlDialect,
    warehouse: Warehouse,
    observer: Option<Arc<dyn CatalogObserver>>,
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
            CatalogBackend::Postgres => with_statement_timeout(&schema.catalog_uri),
        };
        sqlx::any::install_default_drivers();
        if backend == CatalogBackend::Postgres {
            probe(&uri).await.map_err(|source| CatalogError::Connect {
                name: schema.catalog_name.clone(),
                uri: redacted.clone(),
                source: Box::new(source),
            })?;
        }
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
        let mut options = AnyPoolOptions::new().max_connections(4).acquire_timeout(CONNECT_TIMEOUT);
        if backend == CatalogBackend::Postgres {
            // A statement that hangs (a lock held by a stuck session, a server in trouble) fails
            // after STATEMENT_TIMEOUT instead of holding a pass forever.
            options = options.after_connect(|connection, _| {
                Box::pin(async move {
                    let set = format!("SET statement_timeout = {}", STATEMENT_TIMEOUT.as_millis());
                    sqlx::Executor::execute(connection, set.as_str()).await.map(|_| ())
                })
            });
        }
        let connect_err = |e: sqlx::Error| CatalogError::Connect {
            name: schema.catalog_name.clone(),
            uri: crate::config::redact_uri(&uri),
            source: Box::new(iceberg::Error::new(iceberg::ErrorKind::Unexpected, e.to_string())),
        };
        let pool = options.connect(&uri).await.map_err(connect_err)?;
        // Java's JdbcCatalog creates `iceberg_tables` without `iceberg_type` unless told to use
        // its V1 schema; every statement of the iceberg client and ours filters on it. Adding
        // the column (null: a table) is Java's own V0 -> V1 migration, and V0 clients, which
        // name their columns, keep working.
        super::migrate::ensure_column(&pool, "iceberg_tables", "iceberg_type", "VARCHAR(5)")
            .await
            .map_err(connect_err)?;
        Ok(Self {
            catalog,
            pool,
            name: schema.catalog_name.clone(),
            uri: uri.into(),
            dialect: SqlDialect::new(backend),
            warehouse: warehouse.clone(),
            observer: None,
        })
    }

    /// This catalog, reporting every failed statement of ours and of [`Self::load_table`] to
    /// `observer`.
    pub fn with_observer(mut self, observer: Option<Arc<dyn CatalogObserver>>) -> Self {
        self.observer = observer;
        self
    }

    /// Why a new connection to the catalog database fails, if it does: a pool that timed out
    /// waiting for a connection does not say (sqlx keeps no cause), a fresh connection does
    /// (`Connection refused`, `no answer within 10 s`). Always `None` for SQLite.
    pub async fn connection_problem(&self) -> Option<String> {
        if self.backend() != CatalogBackend::Postgres {
            return None;
        }
        probe(self.uri.expose()).await.err().map(|e| e.to_string())
    }

    /// Reports `err`, a failure of a statement on this catalog, to the observer (if any).
    pub fn observe(&self, err: &(dyn std::error::Error + 'static)) {
        if let Some(observer) = &self.observer {
            observer.catalog_error(CatalogErrorKind::of(err));
        }
    }

    /// [`CatalogError::Query`] for a failed statement of ours, reported to the observer.
    pub fn query_error(&self, source: sqlx::Error) -> CatalogError {
        self.observe(&source);
        CatalogError::Query { name: self.name.clone(), source }
    }

    /// Loads the table `ident` with the iceberg client; a failure of the database is reported
    /// to the observer and says so (a missing table or an unreadable metadata file is not the
    /// catalog's).
    pub async fn load_table(&self, ident: &iceberg::TableIdent) -> iceberg::Result<Table> {
        use iceberg::Catalog;
        match self.catalog.load_table(ident).await {
            Err(e) if let Some(kind) = CatalogErrorKind::of_database(&e) => {
                if let Some(observer) = &self.observer {
                    observer.catalog_error(kind);
                }
                // Says which dependency failed: the database, not the table's files.
                Err(e.with_context("catalog database", self.name.clone()))
            }
            loaded => loaded,
        }
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
        self.uri.expose()
    }

    /// The sqlx pool on the catalog database, for bookkeeping tables of our own (never for
    /// `iceberg_tables`, which only the commit path changes).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database engine holds the catalog.
    pub fn backend(&self) -> CatalogBackend {
        self.dialect.backend()
    }

    /// The SQL dialect of the catalog database, for every statement run on [`Self::pool`].
    pub fn dialect(&self) -> SqlDialect {
        self.dialect
    }

    /// The warehouse all tables of this catalog are stored in.
    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// The warehouse location URI, the default root of new tables.
    pub fn warehouse_location(&self) -> &str {
        self.warehouse.location()
    }
}

/// `uri` with `statement_timeout` set to [`STATEMENT_TIMEOUT`] on every connection, unless the
/// operator set one: the iceberg client's own pool takes no other way to bound a statement.
fn with_statement_timeout(uri: &str) -> String {
    if uri.contains("statement_timeout") {
        return uri.to_string();
    }
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}options[statement_timeout]={}", STATEMENT_TIMEOUT.as_millis())
}

/// Turns `sqlite://path` into the form sqlx needs to create a missing file (`?mode=rwc`), and
/// creates the file's directory.
pub(super) fn sqlite_uri(uri: &str) -> Result<String, CatalogError> {
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
    use super::*;
    use crate::config::StorageConfig;

    #[test]
    fn postgres_statements_are_bounded_unless_the_uri_says_otherwise() {
        assert_eq!(
            with_statement_timeout("postgres://u@h/db"),
            "postgres://u@h/db?options[statement_timeout]=30000"
        );
        assert_eq!(
            with_statement_timeout("postgres://u@h/db?sslmode=disable"),
            "postgres://u@h/db?sslmode=disable&options[statement_timeout]=30000"
        );
        let own = "postgres://u@h/db?options[statement_timeout]=5000";
        assert_eq!(with_statement_timeout(own), own);
    }

    #[tokio::test]
    async fn a_statement_running_past_the_uri_timeout_is_cancelled_and_classified() {
        let Ok(admin) = std::env::var("SIGNALDB_TEST_PG_URL") else {
            assert!(std::env::var("CI").is_err(), "CI=true needs SIGNALDB_TEST_PG_URL");
            eprintln!("SKIPPED: SIGNALDB_TEST_PG_URL is not set");
            return;
        };
        use sqlx::Connection;
        let uri = with_statement_timeout(&admin).replace("=30000", "=200");
        let mut connection = sqlx::PgConnection::connect(&uri).await.unwrap();
        let err = sqlx::query("SELECT pg_sleep(2)").execute(&mut connection).await.unwrap_err();
        assert_eq!(super::super::CatalogErrorKind::of(&err).as_str(), "statement_timeout");
    }

    /// The database URI may carry a password; a connected catalog's `Debug` (which a log line
    /// or an error could print) never shows it.
    #[tokio::test]
    async fn debug_never_shows_the_database_uri() {
        let dir = tempfile::tempdir().unwrap();
        let secret_dir = dir.path().join("pw-Hunter2Secret");
        let storage = StorageConfig {
            dsn: format!("file://{}/wh", dir.path().display()),
            ..Default::default()
        };
        let schema = SchemaConfig {
            catalog_uri: format!("sqlite://{}/catalog.db", secret_dir.display()),
            ..Default::default()
        };
        let catalog =
            SignalCatalog::connect(&schema, &Warehouse::open(&storage).unwrap()).await.unwrap();
        assert!(catalog.database_uri().contains("Hunter2Secret"), "{}", catalog.database_uri());
        let debug = format!("{catalog:?}");
        assert!(!debug.contains("Hunter2Secret"), "{debug}");
        assert!(debug.contains("***"), "{debug}");
    }

    #[tokio::test]
    async fn a_refused_postgres_server_is_reported_at_once_with_its_own_error() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let dir = tempfile::tempdir().unwrap();
        let storage = StorageConfig {
            dsn: format!("file://{}/wh", dir.path().display()),
            ..Default::default()
        };
        let schema = SchemaConfig {
            catalog_uri: format!("postgres://signaldb:s3cret@127.0.0.1:{port}/catalog"),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let err = SignalCatalog::connect(&schema, &Warehouse::open(&storage).unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        assert!(err.to_lowercase().contains("connection refused"), "{err}");
        assert!(err.contains(&format!("127.0.0.1:{port}")) && !err.contains("s3cret"), "{err}");
    }
}
