//! The error of connecting and querying the catalog.

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
