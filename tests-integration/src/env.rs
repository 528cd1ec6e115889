//! A throwaway SignalDB deployment for one test: catalog, warehouse and `signaldb.toml`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use sqlx::{Connection, Executor};

use crate::require::{S3Target, require_postgres, require_s3};

/// The catalog name every test env uses (`[schema] catalog_name`).
pub const CATALOG_NAME: &str = "signaldb";

/// Where a [`TestEnv`] keeps its catalog and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite catalog file and a local-filesystem warehouse, both in the temp dir.
    SqliteLocal,
    /// A fresh PostgreSQL database as catalog, local-filesystem warehouse.
    Postgres,
    /// SQLite catalog file, warehouse under a unique prefix of the S3 test bucket.
    S3,
    /// A fresh PostgreSQL database as catalog, warehouse on S3.
    PostgresS3,
}

impl Backend {
    /// Every backend, cheapest first.
    pub const ALL: [Backend; 4] =
        [Backend::SqliteLocal, Backend::Postgres, Backend::S3, Backend::PostgresS3];

    /// Whether the catalog lives in PostgreSQL (otherwise SQLite).
    pub fn uses_postgres(self) -> bool {
        matches!(self, Backend::Postgres | Backend::PostgresS3)
    }

    /// Whether the warehouse lives on S3 (otherwise the local filesystem).
    pub fn uses_s3(self) -> bool {
        matches!(self, Backend::S3 | Backend::PostgresS3)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::SqliteLocal => "sqlite+local",
            Backend::Postgres => "postgres+local",
            Backend::S3 => "sqlite+s3",
            Backend::PostgresS3 => "postgres+s3",
        })
    }
}

/// How pyiceberg's `SqlCatalog` opens the same catalog: `SqlCatalog(name, uri=..,
/// warehouse=.., **props)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyIcebergConnection {
    /// The catalog name (`catalog_name` column).
    pub catalog_name: String,
    /// SQLAlchemy URI: `sqlite:////abs/catalog.db` or `postgresql+psycopg2://...`.
    pub uri: String,
    /// The warehouse location URI.
    pub warehouse: String,
    /// FileIO properties (`s3.endpoint`, `s3.region`, keys) for an S3 warehouse.
    pub props: BTreeMap<String, String>,
}

/// One test's deployment: a temp dir holding `signaldb.toml` (and, for SQLite, the catalog
/// file; for local storage, the warehouse), plus a PostgreSQL database or S3 prefix of its own.
///
/// Dropping it removes the temp dir and drops the PostgreSQL database (best effort); with
/// `SIGNALDB_TEST_KEEP=1` both are kept and their location printed. S3 prefixes are left to
/// die with the moto server.
pub struct TestEnv {
    backend: Backend,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    config_path: PathBuf,
    catalog_uri: String,
    warehouse_uri: String,
    pyiceberg: PyIcebergConnection,
    s3: Option<S3Target>,
    pg: Option<PgDatabase>,
}

impl fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestEnv")
            .field("backend", &self.backend)
            .field("dir", &self.path)
            .field("catalog_uri", &self.catalog_uri)
            .field("warehouse_uri", &self.warehouse_uri)
            .finish()
    }
}

impl TestEnv {
    /// Sets up a fresh env on `backend`, or returns `None` when a service the backend needs is
    /// missing (see [`crate::require`]: the test is then skipped, or fails under `CI=true`).
    ///
    /// Panics when a service is there but setting up on it fails.
    pub async fn new(backend: Backend) -> Option<TestEnv> {
        let admin_url = if backend.uses_postgres() { Some(require_postgres()?) } else { None };
        Self::create(backend, admin_url).await
    }

    /// Sets up a fresh env on `backend` (a PostgreSQL one) whose catalog is a new database on
    /// the server of `admin_url` instead of the shared test server, e.g. a
    /// [`crate::private_pg::PrivatePg`]; `None` when S3 is needed and missing.
    pub async fn with_postgres_at(backend: Backend, admin_url: &str) -> Option<TestEnv> {
        assert!(backend.uses_postgres(), "{backend} has no PostgreSQL catalog");
        Self::create(backend, Some(admin_url.to_string())).await
    }

    async fn create(backend: Backend, admin_url: Option<String>) -> Option<TestEnv> {
        let s3 = if backend.uses_s3() { Some(require_s3()?) } else { None };

        let dir = tempfile::Builder::new()
            .prefix("signaldb-test-")
            .tempdir()
            .expect("creating the test env's temp dir");
        let path = dir.path().to_path_buf();
        let id = uuid::Uuid::new_v4().simple().to_string();

        let pg = match admin_url {
            Some(admin_url) => Some(PgDatabase::create(&admin_url, &id[..16]).await),
            None => None,
        };
        let (catalog_uri, py_uri) = match &pg {
            Some(pg) => (pg.url.clone(), pg.sqlalchemy_url()),
            None => {
                let db = path.join("catalog.db");
                (format!("sqlite://{}", db.display()), format!("sqlite:///{}", db.display()))
            }
        };
        let (warehouse_uri, props) = match &s3 {
            Some(s3) => (format!("s3://{}/{id}/warehouse", s3.bucket), pyiceberg_s3_props(s3)),
            None => (format!("file://{}", path.join("warehouse").display()), BTreeMap::new()),
        };

        let env = TestEnv {
            backend,
            config_path: path.join("signaldb.toml"),
            path,
            dir: Some(dir),
            pyiceberg: PyIcebergConnection {
                catalog_name: CATALOG_NAME.to_string(),
                uri: py_uri,
                warehouse: warehouse_uri.clone(),
                props,
            },
            catalog_uri,
            warehouse_uri,
            s3,
            pg,
        };
        std::fs::write(&env.config_path, env.base_config())
            .expect("writing the test env's signaldb.toml");
        Some(env)
    }

    /// The `signaldb.toml` contents this env starts with.
    fn base_config(&self) -> String {
        let mut schema = toml::Table::new();
        schema.insert("catalog_uri".into(), self.catalog_uri.clone().into());
        schema.insert("catalog_name".into(), CATALOG_NAME.into());
        let mut storage = toml::Table::new();
        storage.insert("dsn".into(), self.warehouse_uri.clone().into());
        if let Some(s3) = &self.s3 {
            let mut s3_table = toml::Table::new();
            s3_table.insert("endpoint".into(), s3.endpoint.clone().into());
            s3_table.insert("region".into(), s3.region.clone().into());
            s3_table.insert("allow_http".into(), true.into());
            storage.insert("s3".into(), s3_table.into());
        }
        let mut root = toml::Table::new();
        root.insert("schema".into(), schema.into());
        root.insert("storage".into(), storage.into());
        format!(
            "# Written by tests-integration for one {} test env.\n{}",
            self.backend,
            toml::to_string(&root).expect("serialising the test config")
        )
    }

    /// Points the binaries' `[storage.s3] endpoint` at `endpoint` (a
    /// [`crate::fault_proxy::FaultProxy`], say); pyiceberg keeps reading the S3 server itself.
    pub fn set_s3_endpoint(&self, endpoint: &str) {
        let text = std::fs::read_to_string(&self.config_path).expect("reading signaldb.toml");
        let mut doc: toml::Table = text.parse().expect("signaldb.toml is TOML");
        let s3 = doc
            .get_mut("storage")
            .and_then(|s| s.get_mut("s3"))
            .and_then(toml::Value::as_table_mut)
            .expect("an S3 env has [storage.s3]");
        s3.insert("endpoint".into(), endpoint.into());
        let text = toml::to_string(&doc).expect("serialising signaldb.toml");
        std::fs::write(&self.config_path, text).expect("writing signaldb.toml");
    }

    /// Appends TOML (for example a `[compactor.retention]` section) to this env's
    /// `signaldb.toml`.
    pub fn append_config(&self, toml: &str) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.config_path)
            .expect("opening the test env's signaldb.toml");
        writeln!(file, "\n{toml}").expect("appending to the test env's signaldb.toml");
    }

    /// The backend this env runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The env's temp dir.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Path of the env's `signaldb.toml`; pass it as `--config` or `SIGNALDB_CONFIG`.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// `[schema] catalog_uri` in the form our binaries take (`sqlite:///abs/catalog.db` or
    /// `postgres://postgres@127.0.0.1:5432/sdb_test_…`).
    pub fn catalog_uri(&self) -> &str {
        &self.catalog_uri
    }

    /// `[schema] catalog_name`.
    pub fn catalog_name(&self) -> &str {
        CATALOG_NAME
    }

    /// `[storage] dsn`: the warehouse location URI (`file:///abs/warehouse` or
    /// `s3://signaldb-test/<uuid>/warehouse`).
    pub fn warehouse_uri(&self) -> &str {
        &self.warehouse_uri
    }

    /// How pyiceberg opens this env's catalog.
    pub fn pyiceberg(&self) -> &PyIcebergConnection {
        &self.pyiceberg
    }

    /// The S3 target, for S3 backends.
    pub fn s3(&self) -> Option<&S3Target> {
        self.s3.as_ref()
    }

    /// The URL of this env's PostgreSQL database, for PostgreSQL backends (the same as
    /// [`Self::catalog_uri`]).
    pub fn pg_url(&self) -> Option<&str> {
        self.pg.as_ref().map(|pg| pg.url.as_str())
    }

    /// The name of this env's PostgreSQL database, for PostgreSQL backends.
    pub fn pg_database(&self) -> Option<&str> {
        self.pg.as_ref().map(|pg| pg.name.as_str())
    }

    /// Loads this env's `signaldb.toml` the way the binaries started by [`crate::bins`] do:
    /// from the env's dir, with no `SIGNALDB_*` variables of the caller's shell.
    pub fn load_config(&self) -> common::config::Config {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(name, _)| !name.starts_with("SIGNALDB_"));
        common::config::load_from(Some(&self.config_path), vars, &self.path)
            .unwrap_or_else(|e| panic!("loading {}: {e}", self.config_path.display()))
            .config
    }

    /// Opens the env's warehouse through `common`, as the binaries do.
    pub fn warehouse(&self) -> common::storage::Warehouse {
        common::storage::Warehouse::open(&self.load_config().storage)
            .unwrap_or_else(|e| panic!("opening the {} warehouse: {e}", self.backend))
    }

    /// Connects the env's catalog through `common`, as the binaries do.
    pub async fn catalog(&self) -> common::catalog::SignalCatalog {
        let config = self.load_config();
        let warehouse = common::storage::Warehouse::open(&config.storage)
            .unwrap_or_else(|e| panic!("opening the {} warehouse: {e}", self.backend));
        common::catalog::SignalCatalog::connect(&config.schema, &warehouse)
            .await
            .unwrap_or_else(|e| panic!("connecting the {} catalog: {e}", self.backend))
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if std::env::var("SIGNALDB_TEST_KEEP").is_ok_and(|v| v == "1") {
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
            let _ = writeln!(
                std::io::stderr(),
                "SIGNALDB_TEST_KEEP: kept {} env at {} (catalog {})",
                self.backend,
                self.path.display(),
                self.catalog_uri
            );
            return;
        }
        if let Some(pg) = self.pg.take() {
            pg.drop_best_effort();
        }
    }
}

fn pyiceberg_s3_props(s3: &S3Target) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("s3.endpoint".to_string(), s3.endpoint.clone()),
        ("s3.region".to_string(), s3.region.clone()),
        ("s3.access-key-id".to_string(), s3.access_key_id.clone()),
        ("s3.secret-access-key".to_string(), s3.secret_access_key.clone()),
    ])
}

/// A database created for one env on the test PostgreSQL server.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(admin_url: &str, suffix: &str) -> PgDatabase {
        let name = format!("sdb_test_{suffix}");
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to PostgreSQL at {admin_url}: {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = conn.close().await;
        let mut url = url::Url::parse(admin_url).expect("SIGNALDB_TEST_PG_URL is a URL");
        url.set_path(&format!("/{name}"));
        PgDatabase { admin_url: admin_url.to_string(), name, url: url.to_string() }
    }

    /// The same database as a SQLAlchemy URL for pyiceberg.
    fn sqlalchemy_url(&self) -> String {
        let rest = self.url.split_once("://").map(|(_, rest)| rest).expect("a postgres:// URL");
        format!("postgresql+psycopg2://{rest}")
    }

    /// Drops the database, disconnecting whoever still uses it. Runs on its own thread and
    /// runtime because `Drop` may happen inside (or outside) a tokio runtime.
    fn drop_best_effort(self) {
        let PgDatabase { admin_url, name, url: _ } = self;
        let joined = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                conn.close().await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(e)) = joined {
            let _ = writeln!(std::io::stderr(), "warning: dropping test database: {e}");
        }
    }
}
