//! Per-table, per-job leases in the catalog database: the coordination several compactor
//! instances share, so that one table is worked on by one job of one instance at a time.
//!
//! One row of `signaldb_compactor_leases` per (catalog, namespace, table, job) holds the owner
//! (an instance id), the expiry and a fencing token. Acquiring is one atomic upsert that only
//! takes a row that is free, expired or already the caller's while no other job's row of the
//! table is live, and increases the token every time; so two instances can never both hold a
//! lease, and a holder whose lease was taken over can tell (its token is no longer the row's)
//! and cannot commit (the commit path's swap checks the token in the same statement).
//! Releasing expires the row but keeps it, so tokens only ever grow.

use chrono::{DateTime, Duration, Utc};
use common::catalog::{Fence, SignalCatalog, SqlDialect};
use common::config::CatalogBackend;
use common::tables::TableId;
use sqlx::{AnyPool, Row};

use crate::job::JobKind;

pub use common::catalog::LEASES_TABLE;

/// The columns every lease query reads, in this order.
const COLUMNS: &str = "table_namespace, table_name, job, owner, token, expires_at_ms, taken_from";

/// The action of the check that an existing lease table has the layout this version writes.
const LAYOUT_CHECK: &str = "check the layout of table signaldb_compactor_leases (created by \
    another version? it holds only leases, which instances take again: stop every compactor, \
    drop it and restart)";

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
    /// The instance whose lease expired without being released (it died or stalled) when
    /// this acquisition took it over; `None` when the lease was free or released.
    pub taken_from: Option<String>,
}

impl Lease {
    /// The fence a commit made under this lease must pass.
    pub fn fence(&self) -> Fence {
        Fence { job: self.job.as_str(), owner: self.owner.clone(), token: self.token }
    }
}

/// A lease row as every instance can see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
    /// The instance it was taken over from, when its holder took it after that instance's
    /// lease expired unreleased.
    pub taken_from: Option<String>,
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
             expires_at_ms BIGINT NOT NULL, taken_from VARCHAR(255), \
             PRIMARY KEY (catalog_name, table_namespace, table_name, job))"
        );
        crate::migrate::create_if_missing(&pool, &ddl)
            .await
            .map_err(|source| LeaseError { action: "create table", source })?;
        // The first layout (this first step) had no `taken_from`; any other layout
        // (another program's table of the same name) is reported here, naming the table,
        // rather than failing every acquisition.
        crate::migrate::ensure_column(&pool, LEASES_TABLE, "taken_from", "VARCHAR(255)")
            .await
            .map_err(|source| LeaseError { action: LAYOUT_CHECK, source })?;
        sqlx::query(&format!("SELECT catalog_name, {COLUMNS} FROM {LEASES_TABLE} WHERE 1 = 0"))
            .fetch_all(&pool)
            .await
            .map_err(|source| LeaseError { action: LAYOUT_CHECK, source })?;
        Ok(Self { pool, dialect, catalog_name: catalog_name.to_string() })
    }

    /// The store of `catalog`'s database.
    pub async fn of(catalog: &SignalCatalog) -> Result<Self, LeaseError> {
        Self::open(catalog.pool().clone(), catalog.dialect(), catalog.name()).await
    }

    /// Takes the lease of `job` on `table` for `owner` until `now + ttl`, when it is free,
    /// expired or already `owner`'s and no other job's lease on `table` is live (one job per
    /// table at a time, whoever runs it); `None` otherwise.
    ///
    /// One upsert decides. On PostgreSQL it runs after a transaction-scoped advisory lock on
    /// the table, so two instances taking different jobs' leases of one table are serialised
    /// (each job has its own row, which the upsert alone would not order); SQLite runs every
    /// write statement under its database lock.
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
             token, expires_at_ms) SELECT ?, ?, ?, ?, ?, 1, ? WHERE NOT EXISTS (\
             SELECT 1 FROM {LEASES_TABLE} WHERE catalog_name = ? AND table_namespace = ? \
             AND table_name = ? AND job <> ? AND expires_at_ms > ?) \
             ON CONFLICT (catalog_name, table_namespace, table_name, job) DO UPDATE SET \
             owner = excluded.owner, token = {LEASES_TABLE}.token + 1, \
             expires_at_ms = excluded.expires_at_ms, taken_from = CASE \
             WHEN {LEASES_TABLE}.expires_at_ms > 0 AND {LEASES_TABLE}.owner <> excluded.owner \
             THEN {LEASES_TABLE}.owner END \
             WHERE {LEASES_TABLE}.expires_at_ms <= ? OR {LEASES_TABLE}.owner = excluded.owner \
             RETURNING token, taken_from"
        ));
        let ident = table.ident();
        let namespace = ident.namespace().join(".");
        let err = |source| LeaseError { action: "acquire", source };
        let mut tx = self.pool.begin().await.map_err(err)?;
        if self.dialect.backend() == CatalogBackend::Postgres {
            let key = advisory_key(&self.catalog_name, &namespace, ident.name());
            sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
                .bind(key)
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
        }
        let now_ms = now.timestamp_millis();
        let row = sqlx::query(&sql)
            .bind(&self.catalog_name)
            .bind(&namespace)
            .bind(ident.name())
            .bind(job.as_str())
            .bind(owner)
            .bind(expires_at.timestamp_millis())
            .bind(&self.catalog_name)
            .bind(&namespace)
            .bind(ident.name())
            .bind(job.as_str())
            .bind(now_ms)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        let token = row.try_get(0).map_err(err)?;
        let taken_from = row.try_get(1).map_err(err)?;
        let owner = owner.to_string();
        Ok(Some(Lease { table: table.clone(), job, owner, token, expires_at, taken_from }))
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
        self.live(now, None).await
    }

    /// The live lease on `table` at `now` (of whichever job), if any: who a skipped table was
    /// left to.
    pub async fn holder_of(
        &self,
        table: &TableId,
        now: DateTime<Utc>,
    ) -> Result<Option<Holder>, LeaseError> {
        Ok(self.live(now, Some(table)).await?.into_iter().next())
    }

    /// The leases live at `now`, of `table` only when set.
    async fn live(
        &self,
        now: DateTime<Utc>,
        table: Option<&TableId>,
    ) -> Result<Vec<Holder>, LeaseError> {
        let only = if table.is_some() { " AND table_namespace = ? AND table_name = ?" } else { "" };
        let sql = self.dialect.sql(&format!(
            "SELECT {COLUMNS} FROM {LEASES_TABLE} WHERE catalog_name = ? AND expires_at_ms > ?\
             {only} ORDER BY table_namespace, table_name, job"
        ));
        let err = |source| LeaseError { action: "list", source };
        let mut query = sqlx::query(&sql).bind(&self.catalog_name).bind(now.timestamp_millis());
        if let Some(table) = table {
            let ident = table.ident();
            query = query.bind(ident.namespace().join(".")).bind(ident.name().to_string());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(err)?;
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
                    taken_from: row.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(err)
    }
}

/// The PostgreSQL advisory-lock key of a table's leases: FNV-1a over its catalog, namespace
/// and name, so every instance computes the same key for the same table.
fn advisory_key(catalog: &str, namespace: &str, table: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in [catalog, namespace, table].join("\0").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

#[cfg(test)]
mod tests;
