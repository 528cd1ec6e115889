//! The `[schema]` section: the Iceberg SQL catalog every table is registered in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::secret::redact_uri;
use super::storage::InvalidUri;

/// `[schema]`: which Iceberg catalog holds the table metadata pointers.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaConfig {
    /// Catalog implementation; only `"sql"` (the Iceberg SQL catalog) is supported, any other
    /// name is refused at load ([`UnsupportedCatalogType`]).
    /// Env `SIGNALDB_SCHEMA_CATALOG_TYPE`, default `"sql"`.
    pub catalog_type: CatalogType,
    /// Database of the SQL catalog: `sqlite://PATH`, `sqlite::memory:`, `postgres://…` or
    /// `postgresql://…` (sqlx syntax). Env `SIGNALDB_SCHEMA_CATALOG_URI`,
    /// default `"sqlite://.data/catalog.db"`.
    pub catalog_uri: String,
    /// Value of the `catalog_name` column in `iceberg_tables`; other Iceberg clients must open
    /// the catalog under this name to see the tables. Non-empty.
    /// Env `SIGNALDB_SCHEMA_CATALOG_NAME`, default `"signaldb"`.
    pub catalog_name: String,
}

impl Default for SchemaConfig {
    fn default() -> Self {
        SchemaConfig {
            catalog_type: CatalogType::Sql,
            catalog_uri: "sqlite://.data/catalog.db".to_string(),
            catalog_name: "signaldb".to_string(),
        }
    }
}

impl fmt::Debug for SchemaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SchemaConfig { catalog_type, catalog_uri, catalog_name } = self;
        f.debug_struct("SchemaConfig")
            .field("catalog_type", &catalog_type.as_str())
            .field("catalog_uri", &redact_uri(catalog_uri))
            .field("catalog_name", catalog_name)
            .finish()
    }
}

impl SchemaConfig {
    /// The database engine `catalog_uri` points at.
    pub fn backend(&self) -> Result<CatalogBackend, InvalidUri> {
        CatalogBackend::of(&self.catalog_uri)
    }
}

/// The catalog implementation `[schema] catalog_type` names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CatalogType {
    /// `sql`: the Iceberg SQL catalog, tables in a SQLite or PostgreSQL database.
    #[default]
    Sql,
}

impl CatalogType {
    /// The name in the configuration: `sql`.
    pub fn as_str(self) -> &'static str {
        match self {
            CatalogType::Sql => "sql",
        }
    }
}

impl fmt::Display for CatalogType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `catalog_type` that names no supported catalog implementation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported catalog type `{0}`; only `sql` is supported")]
pub struct UnsupportedCatalogType(pub String);

impl FromStr for CatalogType {
    type Err = UnsupportedCatalogType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sql" => Ok(CatalogType::Sql),
            other => Err(UnsupportedCatalogType(other.to_string())),
        }
    }
}

/// As its name; an unknown name fails deserialisation with the [`UnsupportedCatalogType`]
/// message, which loading reports at the key with every other problem.
impl Serialize for CatalogType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CatalogType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(de::Error::custom)
    }
}

/// Database engine holding the SQL catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogBackend {
    /// An SQLite file or in-memory database.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl CatalogBackend {
    /// The engine of `uri`, after checking that the URI is usable.
    pub fn of(uri: &str) -> Result<CatalogBackend, InvalidUri> {
        let shown = redact_uri(uri);
        if let Some(rest) = uri.strip_prefix("sqlite:") {
            let target = rest.strip_prefix("//").unwrap_or(rest);
            let path = target.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(InvalidUri(format!("`{shown}` names no SQLite database file")));
            }
            return Ok(CatalogBackend::Sqlite);
        }
        if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
            url::Url::parse(uri)
                .map_err(|e| InvalidUri(format!("`{shown}` does not parse: {e}")))?;
            return Ok(CatalogBackend::Postgres);
        }
        Err(InvalidUri(format!(
            "`{shown}` is not a catalog URI: expected sqlite://PATH, sqlite::memory:, \
             postgres://… or postgresql://…"
        )))
    }
}
