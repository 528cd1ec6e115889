//! Watching the catalog database's failures: each failed statement or connection is classified
//! by what went wrong and reported to a [`CatalogObserver`] (the compactor counts them as
//! `compactor_catalog_errors_total{kind}`).

use std::error::Error;
use std::fmt::Debug;

/// What kind of failure a catalog statement met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatalogErrorKind {
    /// The server refused the connection (nothing listens, or it refuses new sessions).
    Refused,
    /// The server did not answer a connection attempt in time.
    Unreachable,
    /// No pooled connection became free in time (the server is slow, or connections hang).
    PoolTimeout,
    /// The server cancelled a statement that ran longer than `statement_timeout`.
    StatementTimeout,
    /// An open connection broke mid-statement (server restart, failover, network reset): the
    /// statement's outcome is unknown.
    ConnectionLost,
    /// The server rejected the statement (a constraint, a permission, a serialization failure).
    Database,
    /// Anything else (a driver or decoding error).
    Other,
}

impl CatalogErrorKind {
    /// Every kind, in the order they are exported.
    pub const ALL: [CatalogErrorKind; 7] = [
        Self::Refused,
        Self::Unreachable,
        Self::PoolTimeout,
        Self::StatementTimeout,
        Self::ConnectionLost,
        Self::Database,
        Self::Other,
    ];

    /// The kind's name, as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::Unreachable => "unreachable",
            Self::PoolTimeout => "pool_timeout",
            Self::StatementTimeout => "statement_timeout",
            Self::ConnectionLost => "connection_lost",
            Self::Database => "database",
            Self::Other => "other",
        }
    }

    /// Classifies `err` by the first sqlx or I/O error in its source chain, falling back to
    /// its text (errors the iceberg client flattened to a message).
    pub fn of(err: &(dyn Error + 'static)) -> Self {
        let mut next = Some(err);
        while let Some(e) = next {
            if let Some(sqlx) = e.downcast_ref::<sqlx::Error>() {
                return Self::of_sqlx(sqlx);
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return Self::of_io(io);
            }
            next = e.source();
        }
        Self::of_text(&err.to_string())
    }

    /// The kind of the first sqlx error in `err`'s source chain, if there is one: errors of the
    /// iceberg client that came from the database, not from reading metadata files.
    pub fn of_database(err: &(dyn Error + 'static)) -> Option<Self> {
        let mut next = Some(err);
        while let Some(e) = next {
            if let Some(sqlx) = e.downcast_ref::<sqlx::Error>() {
                return Some(Self::of_sqlx(sqlx));
            }
            next = e.source();
        }
        None
    }

    fn of_sqlx(err: &sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut => Self::PoolTimeout,
            sqlx::Error::Io(io) => Self::of_io(io),
            sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => Self::ConnectionLost,
            sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => Self::ConnectionLost,
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // query_canceled: statement_timeout (or a cancel request).
                Some("57014") => Self::StatementTimeout,
                // cannot_connect_now (starting up, shutting down), too_many_connections.
                Some("57P03" | "53300") => Self::Refused,
                // admin_shutdown, crash_shutdown, connection exceptions.
                Some(code) if code.starts_with("57P") || code.starts_with("08") => {
                    Self::ConnectionLost
                }
                _ => Self::Database,
            },
            other => Self::of_text(&other.to_string()),
        }
    }

    fn of_io(err: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        match err.kind() {
            ErrorKind::ConnectionRefused => Self::Refused,
            ErrorKind::TimedOut | ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                Self::Unreachable
            }
            _ => Self::ConnectionLost,
        }
    }

    fn of_text(text: &str) -> Self {
        let text = text.to_ascii_lowercase();
        if text.contains("connection refused") {
            Self::Refused
        } else if text.contains("no answer within") || text.contains("timed out connecting") {
            Self::Unreachable
        } else if text.contains("pool timed out") {
            Self::PoolTimeout
        } else if text.contains("statement timeout") {
            Self::StatementTimeout
        } else if text.contains("connection reset") || text.contains("broken pipe") {
            Self::ConnectionLost
        } else {
            Self::Other
        }
    }
}

/// Told about each failed catalog statement or connection attempt.
pub trait CatalogObserver: Send + Sync + Debug {
    /// A statement or connection failed with an error of `kind`.
    fn catalog_error(&self, kind: CatalogErrorKind);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_their_cause() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(CatalogErrorKind::of(&sqlx::Error::Io(refused)), CatalogErrorKind::Refused);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let lost = sqlx::Error::Io(reset);
        assert_eq!(CatalogErrorKind::of(&lost), CatalogErrorKind::ConnectionLost);
        assert_eq!(CatalogErrorKind::of(&sqlx::Error::PoolTimedOut), CatalogErrorKind::PoolTimeout);
        // Wrapped by the iceberg client, the sqlx error is still found.
        let wrapped = iceberg::Error::new(iceberg::ErrorKind::Unexpected, "operation failed")
            .with_source(sqlx::Error::PoolTimedOut);
        assert_eq!(CatalogErrorKind::of(&wrapped), CatalogErrorKind::PoolTimeout);
        assert_eq!(CatalogErrorKind::of_database(&wrapped), Some(CatalogErrorKind::PoolTimeout));
        let storage = iceberg::Error::new(iceberg::ErrorKind::Unexpected, "object store get")
            .with_source(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(CatalogErrorKind::of_database(&storage), None, "not the database's");
        let text = iceberg::Error::new(iceberg::ErrorKind::Unexpected, "no answer within 10 s");
        assert_eq!(CatalogErrorKind::of(&text), CatalogErrorKind::Unreachable);
        let other = iceberg::Error::new(iceberg::ErrorKind::Unexpected, "bad row");
        assert_eq!(CatalogErrorKind::of(&other), CatalogErrorKind::Other);
    }

    #[test]
    fn kinds_have_distinct_label_values() {
        let names: std::collections::BTreeSet<_> =
            CatalogErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), CatalogErrorKind::ALL.len());
    }
}
