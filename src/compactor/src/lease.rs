//! Per-table, per-job leases in the catalog database: the coordination several compactor
//! instances share (issue 13's first step; not yet taken by the passes).
//!
//! One row of `signaldb_compactor_leases` per (catalog, namespace, table, job) holds the owner
//! (an instance id), the expiry and a fencing token. Acquiring is one atomic upsert that only
//! takes a row that is free, expired or already the caller's, and increases the token every
//! time; so two instances can never both hold a lease, and a holder whose lease was taken over
//! can tell (its token is no longer the row's). Releasing expires the row but keeps it, so
//! tokens only ever grow.

use chrono::{DateTime, Duration, Utc};
use common::catalog::{SignalCatalog, SqlDialect};
use common::tables::TableId;
use sqlx::{AnyPool, Row};

use crate::job::JobKind;

/// Name of the lease table in the catalog database.
pub const LEASES_TABLE: &str = "signaldb_compactor_leases";

/// A failed lease query.
#[derive(Debug, thiserror::Error)]
#[error("lease ({action}): {source}")]
pub struct LeaseError {
    /// What was being done.
    pub action: &'static str,
    /// The underlying error.
    pub source: sqlx::Error,
}

/// A lease held by this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The table.
    pub table: TableId,
    /// The job.
    pub job: JobKind,
    /// The holder's instance id.
    pub owner: String,
    /// The fencing token of this acquisition; a later acquisition has a larger one.
    pub token: i64,
    /// When it expires unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// A lease row as every instance can see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Namespace of the table, dotted (`tenant.dataset`).
    pub namespace: String,
    /// The table's name (its signal).
    pub table: String,
    /// The job.
    pub job: String,
    /// The holder's instance id.
    pub owner: String,
    /// The fencing token.
    pub token: i64,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// Reads and writes leases through the catalog database's pool.
#[derive(Debug, Clone)]
pub struct LeaseStore {
    pool: AnyPool,
    dialect: SqlDialect,
    catalog_name: String,
}

impl LeaseStore {
    /// A store on `pool` (speaking `dialect`) for the tables of catalog `catalog_name`,
    /// creating the lease table if it does not exist.
    pub async fn open(
        pool: AnyPool,
        dialect: SqlDialect,
        catalog_name: &str,
    ) -> Result<Self, LeaseError> {
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {LEASES_TABLE} (\
             catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, \
             table_name VARCHAR(255) NOT NULL, job VARCHAR(32) NOT NULL, \
             owner VARCHAR(255) NOT NULL, token BIGINT NOT NULL, \
             expires_at_ms BIGINT NOT NULL, \
             PRIMARY KEY (catalog_name, table_namespace, table_name, job))"
        );
        sqlx::query(&ddl)
            .execute(&pool)
            .await
            .map_err(|source| LeaseError { action: "create table", source })?;
        Ok(Self { pool, dialect, catalog_name: catalog_name.to_string() })
    }

    /// The store of `catalog`'s database.
    pub async fn of(catalog: &SignalCatalog) -> Result<Self, LeaseError> {
        Self::open(catalog.pool().clone(), catalog.dialect(), catalog.name()).await
    }

    /// Takes the lease of `job` on `table` for `owner` until `now + ttl`, when it is free,
    /// expired or already `owner`'s; `None` while another instance holds it.
    pub async fn acquire(
        &self,
        table: &TableId,
        job: JobKind,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<Lease>, LeaseError> {
        let expires_at = now + ttl;
        let sql = self.dialect.sql(&format!(
            "INSERT INTO {LEASES_TABLE} (catalog_name, table_namespace, table_name, job, owner, \
             token, expires_at_ms) VALUES (?, ?, ?, ?, ?, 1, ?) \
             ON CONFLICT (catalog_name, table_namespace, table_name, job) DO UPDATE SET \
             owner = excluded.owner, token = {LEASES_TABLE}.token + 1, \
             expires_at_ms = excluded.expires_at_ms \
             WHERE {LEASES_TABLE}.expires_at_ms <= ? OR {LEASES_TABLE}.owner = excluded.owner \
             RETURNING token"
        ));
        let ident = table.ident();
        let row = sqlx::query(&sql)
            .bind(&self.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(job.as_str())
            .bind(owner)
            .bind(expires_at.timestamp_millis())
            .bind(now.timestamp_millis())
            .fetch_optional(&self.pool)
            .await
            .map_err(|source| LeaseError { action: "acquire", source })?;
        let Some(row) = row else { return Ok(None) };
        let token = row.try_get(0).map_err(|source| LeaseError { action: "acquire", source })?;
        let owner = owner.to_string();
        Ok(Some(Lease { table: table.clone(), job, owner, token, expires_at }))
    }

    /// Extends `lease` to `now + ttl`; `false` when it is no longer held with its token (it
    /// expired and another instance took it over).
    pub async fn renew(
        &self,
        lease: &mut Lease,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, LeaseError> {
        let expires_at = now + ttl;
        let sql = self.dialect.sql(&format!(
            "UPDATE {LEASES_TABLE} SET expires_at_ms = ? WHERE catalog_name = ? \
             AND table_namespace = ? AND table_name = ? AND job = ? AND owner = ? AND token = ? \
             AND expires_at_ms > ?"
        ));
        let ident = lease.table.ident();
        let done = sqlx::query(&sql)
            .bind(expires_at.timestamp_millis())
            .bind(&self.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(lease.job.as_str())
            .bind(&lease.owner)
            .bind(lease.token)
            .bind(now.timestamp_millis())
            .execute(&self.pool)
            .await
            .map_err(|source| LeaseError { action: "renew", source })?;
        let held = done.rows_affected() == 1;
        if held {
            lease.expires_at = expires_at;
        }
        Ok(held)
    }

    /// Gives `lease` up: the row expires at once (and keeps its token, so tokens only grow).
    pub async fn release(&self, lease: &Lease) -> Result<(), LeaseError> {
        let sql = self.dialect.sql(&format!(
            "UPDATE {LEASES_TABLE} SET expires_at_ms = 0 WHERE catalog_name = ? \
             AND table_namespace = ? AND table_name = ? AND job = ? AND owner = ? AND token = ?"
        ));
        let ident = lease.table.ident();
        sqlx::query(&sql)
            .bind(&self.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(lease.job.as_str())
            .bind(&lease.owner)
            .bind(lease.token)
            .execute(&self.pool)
            .await
            .map_err(|source| LeaseError { action: "release", source })?;
        Ok(())
    }

    /// Every lease held at `now`, by table and job.
    pub async fn holders(&self, now: DateTime<Utc>) -> Result<Vec<Holder>, LeaseError> {
        let sql = self.dialect.sql(&format!(
            "SELECT table_namespace, table_name, job, owner, token, expires_at_ms \
             FROM {LEASES_TABLE} WHERE catalog_name = ? AND expires_at_ms > ? \
             ORDER BY table_namespace, table_name, job"
        ));
        let err = |source| LeaseError { action: "list", source };
        let rows = sqlx::query(&sql)
            .bind(&self.catalog_name)
            .bind(now.timestamp_millis())
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|row| {
                let ms: i64 = row.try_get(5)?;
                Ok(Holder {
                    namespace: row.try_get(0)?,
                    table: row.try_get(1)?,
                    job: row.try_get(2)?,
                    owner: row.try_get(3)?,
                    token: row.try_get(4)?,
                    expires_at: DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(err)
    }
}

#[cfg(test)]
mod tests;
