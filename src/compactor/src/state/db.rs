//! What every repository of the state store shares: the pool, its dialect, the catalog name
//! rows are keyed by, and the database's clock.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::catalog::SqlDialect;
use common::config::CatalogBackend;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// What every repository shares: the pool, its dialect and the catalog name rows are keyed by.
#[derive(Debug, Clone)]
pub(super) struct Db {
    pub(super) pool: AnyPool,
    pub(super) dialect: SqlDialect,
    pub(super) catalog_name: Arc<str>,
}

impl Db {
    /// `statement` (with `?` placeholders) in the database's dialect.
    pub(super) fn sql(&self, statement: &str) -> String {
        self.dialect.sql(statement)
    }

    /// The database's clock, in milliseconds since the epoch, as an SQL expression.
    pub(super) fn now_ms(&self) -> &'static str {
        now_ms(self.dialect.backend())
    }
}

/// The clock of a `backend` database in milliseconds since the epoch, as an SQL expression:
/// every lease time is taken from it, so the compactor's own clock never decides whether a
/// lease is live.
pub(super) fn now_ms(backend: CatalogBackend) -> &'static str {
    match backend {
        CatalogBackend::Sqlite => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
        CatalogBackend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

/// The time in `row`'s column `column` (milliseconds since the epoch).
pub(super) fn time(row: &AnyRow, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    let ms: i64 = row.try_get(column)?;
    Ok(DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH))
}

/// The count in `row`'s column `column` (a `BIGINT`; negative reads as 0).
pub(super) fn count(row: &AnyRow, column: &str) -> Result<u64, sqlx::Error> {
    Ok(row.try_get::<i64, _>(column)?.max(0) as u64)
}

/// `count` as a `BIGINT`, saturating.
pub(super) fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
