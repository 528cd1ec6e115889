//! Per-table, per-job leases: the coordination several compactor instances share, so that one
//! table is worked on by one job of one instance at a time.
//!
//! One row of `signaldb_compactor_leases` per (catalog, namespace, table, job) holds the owner
//! (an instance id), the expiry and a fencing token. Acquiring is one atomic upsert that only
//! takes a row that is free, expired or already the caller's while no other job's row of the
//! table is live, and increases the token every time; so two instances can never both hold a
//! lease, and a holder whose lease was taken over can tell (its token is no longer the row's)
//! and cannot commit: its [`Fence`] is checked in the commit's swap statement. Releasing
//! expires the row but keeps it, so tokens only ever grow.
//!
//! Every time here is the database's clock: expiry is set and compared by the statement itself,
//! so a compactor whose clock is off can neither take a live lease nor keep a dead one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::catalog::{SqlValue, SwapCondition};
use common::config::CatalogBackend;
use common::tables::TableId;
use sqlx::Row;

use super::db::{Db, time};
use super::error::{StateError, Store};
use crate::job::JobKind;

/// Name of the lease table in the catalog database.
pub(crate) const LEASES_TABLE: &str = "signaldb_compactor_leases";

/// The columns every lease query reads.
const COLUMNS: &str = "table_namespace, table_name, job, owner, token, expires_at_ms, taken_from";

/// The action of the check that an existing lease table has the layout this version writes.
pub(super) const LAYOUT_CHECK: &str = "check the layout of table signaldb_compactor_leases \
    (created by another version? it holds only leases, which instances take again: stop every \
    compactor, drop it and restart)";

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
    /// When it expires unless renewed, by the database's clock.
    pub expires_at: DateTime<Utc>,
    /// The instance whose lease expired without being released (it died or stalled) when
    /// this acquisition took it over; `None` when the lease was free or released.
    pub taken_from: Option<String>,
    /// What a commit under this lease must pass.
    fence: Fence,
}

impl Lease {
    /// The fence a commit made under this lease must pass.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }
}

/// A lease a commit must still hold when its swap runs: a holder whose lease expired or was
/// taken over (its token is no longer the row's) cannot commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The job the lease is for.
    pub job: JobKind,
    /// The holder's instance id.
    pub owner: String,
    /// The fencing token of the holder's acquisition.
    pub token: i64,
    /// The lease check the swap runs in its own statement.
    condition: SwapCondition,
}

impl Fence {
    /// The check the catalog's fenced swap runs in the same statement: the lease row of the
    /// table and job still names this holder and token and has not expired by the database's
    /// clock (an expired lease may already be another job's to take).
    pub fn condition(&self) -> &SwapCondition {
        &self.condition
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
    pub job: JobKind,
    /// The holder's instance id.
    pub owner: String,
    /// The fencing token.
    pub token: i64,
    /// When it expires, by the database's clock.
    pub expires_at: DateTime<Utc>,
    /// The instance it was taken over from, when its holder took it after that instance's
    /// lease expired unreleased.
    pub taken_from: Option<String>,
}

/// The leases of one catalog's tables.
#[derive(Debug, Clone)]
pub struct Leases {
    db: Db,
}

impl Leases {
    pub(super) fn new(db: Db) -> Self {
        Self { db }
    }

    /// Takes the lease of `job` on `table` for `owner` for `ttl`, when it is free, expired or
    /// already `owner`'s and no other job's lease on `table` is live (one job per table at a
    /// time, whoever runs it); `None` otherwise.
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
        ttl: Duration,
    ) -> Result<Option<Lease>, StateError> {
        let now = self.db.now_ms();
        let sql = self.db.sql(&format!(
            "INSERT INTO {LEASES_TABLE} (catalog_name, table_namespace, table_name, job, owner, \
             token, expires_at_ms) SELECT ?, ?, ?, ?, ?, 1, {now} + ? WHERE NOT EXISTS (\
             SELECT 1 FROM {LEASES_TABLE} WHERE catalog_name = ? AND table_namespace = ? \
             AND table_name = ? AND job <> ? AND expires_at_ms > {now}) \
             ON CONFLICT (catalog_name, table_namespace, table_name, job) DO UPDATE SET \
             owner = excluded.owner, token = {LEASES_TABLE}.token + 1, \
             expires_at_ms = excluded.expires_at_ms, taken_from = CASE \
             WHEN {LEASES_TABLE}.expires_at_ms > 0 AND {LEASES_TABLE}.owner <> excluded.owner \
             THEN {LEASES_TABLE}.owner END \
             WHERE {LEASES_TABLE}.expires_at_ms <= {now} \
             OR {LEASES_TABLE}.owner = excluded.owner \
             RETURNING token, expires_at_ms, taken_from"
        ));
        let ident = table.ident();
        let namespace = ident.namespace().join(".");
        let err = StateError::of(Store::Leases, "acquire");
        let mut tx = self.db.pool.begin().await.map_err(&err)?;
        if self.db.dialect.backend() == CatalogBackend::Postgres {
            let key = advisory_key(&self.db.catalog_name, &namespace, ident.name());
            sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
                .bind(key)
                .fetch_one(&mut *tx)
                .await
                .map_err(&err)?;
        }
        let row = sqlx::query(&sql)
            .bind(&*self.db.catalog_name)
            .bind(&namespace)
            .bind(ident.name())
            .bind(job.as_str())
            .bind(owner)
            .bind(millis(ttl))
            .bind(&*self.db.catalog_name)
            .bind(&namespace)
            .bind(ident.name())
            .bind(job.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        let Some(row) = row else { return Ok(None) };
        let token = row.try_get("token").map_err(&err)?;
        let expires_at = time(&row, "expires_at_ms").map_err(&err)?;
        let taken_from = row.try_get("taken_from").map_err(&err)?;
        let fence = self.fence(table, job, owner, token);
        let owner = owner.to_string();
        Ok(Some(Lease { table: table.clone(), job, owner, token, expires_at, taken_from, fence }))
    }

    /// Extends `lease` to `ttl` from now; `false` when it is no longer held with its token (it
    /// expired and another instance took it over).
    pub async fn renew(&self, lease: &mut Lease, ttl: Duration) -> Result<bool, StateError> {
        let now = self.db.now_ms();
        let sql = self.db.sql(&format!(
            "UPDATE {LEASES_TABLE} SET expires_at_ms = {now} + ? WHERE catalog_name = ? \
             AND table_namespace = ? AND table_name = ? AND job = ? AND owner = ? AND token = ? \
             AND expires_at_ms > {now} RETURNING expires_at_ms"
        ));
        let err = StateError::of(Store::Leases, "renew");
        let ident = lease.table.ident();
        let row = sqlx::query(&sql)
            .bind(millis(ttl))
            .bind(&*self.db.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(lease.job.as_str())
            .bind(&lease.owner)
            .bind(lease.token)
            .fetch_optional(&self.db.pool)
            .await
            .map_err(&err)?;
        let Some(row) = row else { return Ok(false) };
        lease.expires_at = time(&row, "expires_at_ms").map_err(&err)?;
        Ok(true)
    }

    /// Gives `lease` up: the row expires at once (and keeps its token, so tokens only grow).
    pub async fn release(&self, lease: &Lease) -> Result<(), StateError> {
        let sql = self.db.sql(&format!(
            "UPDATE {LEASES_TABLE} SET expires_at_ms = 0 WHERE catalog_name = ? \
             AND table_namespace = ? AND table_name = ? AND job = ? AND owner = ? AND token = ?"
        ));
        let ident = lease.table.ident();
        sqlx::query(&sql)
            .bind(&*self.db.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(lease.job.as_str())
            .bind(&lease.owner)
            .bind(lease.token)
            .execute(&self.db.pool)
            .await
            .map_err(StateError::of(Store::Leases, "release"))?;
        Ok(())
    }

    /// Every lease live now, by table and job. A row of a job this version does not know
    /// (written by a newer one) is left out.
    pub async fn holders(&self) -> Result<Vec<Holder>, StateError> {
        self.live(None).await
    }

    /// The lease live now on `table` (of whichever job), if any: who a skipped table was left
    /// to.
    pub async fn holder_of(&self, table: &TableId) -> Result<Option<Holder>, StateError> {
        Ok(self.live(Some(table)).await?.into_iter().next())
    }

    /// The leases live now, of `table` only when set.
    async fn live(&self, table: Option<&TableId>) -> Result<Vec<Holder>, StateError> {
        let only = if table.is_some() { " AND table_namespace = ? AND table_name = ?" } else { "" };
        let now = self.db.now_ms();
        let sql = self.db.sql(&format!(
            "SELECT {COLUMNS} FROM {LEASES_TABLE} WHERE catalog_name = ? \
             AND expires_at_ms > {now}{only} ORDER BY table_namespace, table_name, job"
        ));
        let mut query = sqlx::query(&sql).bind(&*self.db.catalog_name);
        if let Some(table) = table {
            let ident = table.ident();
            query = query.bind(ident.namespace().join(".")).bind(ident.name().to_string());
        }
        let err = StateError::of(Store::Leases, "list");
        let rows = query.fetch_all(&self.db.pool).await.map_err(&err)?;
        let mut held = Vec::with_capacity(rows.len());
        for row in &rows {
            let job: String = row.try_get("job").map_err(&err)?;
            let Some(job) = JobKind::ALL.into_iter().find(|j| j.as_str() == job) else {
                continue;
            };
            held.push(Holder {
                namespace: row.try_get("table_namespace").map_err(&err)?,
                table: row.try_get("table_name").map_err(&err)?,
                job,
                owner: row.try_get("owner").map_err(&err)?,
                token: row.try_get("token").map_err(&err)?,
                expires_at: time(row, "expires_at_ms").map_err(&err)?,
                taken_from: row.try_get("taken_from").map_err(&err)?,
            });
        }
        Ok(held)
    }

    /// The fence of `owner`'s lease of `job` on `table` with `token`.
    fn fence(&self, table: &TableId, job: JobKind, owner: &str, token: i64) -> Fence {
        let now = self.db.now_ms();
        let ident = table.ident();
        let sql = format!(
            "SELECT 1 FROM {LEASES_TABLE} WHERE catalog_name = ? AND table_namespace = ? \
             AND table_name = ? AND job = ? AND owner = ? AND token = ? AND expires_at_ms > {now}"
        );
        let binds = vec![
            SqlValue::Text(self.db.catalog_name.to_string()),
            SqlValue::Text(ident.namespace().join(".")),
            SqlValue::Text(ident.name().to_string()),
            SqlValue::Text(job.as_str().to_string()),
            SqlValue::Text(owner.to_string()),
            SqlValue::Int(token),
        ];
        let condition = SwapCondition::new(sql, binds);
        Fence { job, owner: owner.to_string(), token, condition }
    }
}

/// `ttl` in milliseconds, bounded so that the database's now plus it cannot overflow.
fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).min(i64::MAX / 4)
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
