//! Checkpoints: how far a table's cleanup run got, stored in the catalog database so that a
//! restarted process or another instance resumes there instead of from zero.
//!
//! Candidates are deleted in object-path order, one batch at a time; after each batch the row
//! of table `signaldb_orphan_checkpoints` keyed by (catalog name, namespace, table) records the
//! run id, the metadata file the run started from, the last path completed and the running
//! totals. A resumed run rebuilds the reference set from the table's current metadata (never
//! from the checkpoint) and lists only paths after the checkpoint, so nothing is deleted twice
//! and a crash loses at most the batch in flight, whose deletions are repeated harmlessly (a
//! file already gone is skipped). A finished run deletes its row; a row older than the
//! staleness bound is ignored, so a run abandoned long ago starts over.

use chrono::{DateTime, Utc};
use common::catalog::{SignalCatalog, SqlDialect};
use iceberg::TableIdent;
use sqlx::{AnyPool, Row};

/// Name of the checkpoint table in the catalog database.
pub const CHECKPOINT_TABLE: &str = "signaldb_orphan_checkpoints";

/// A failed checkpoint query.
#[derive(Debug, thiserror::Error)]
#[error("orphan cleanup checkpoint ({action}): {source}")]
pub struct CheckpointError {
    /// What was being done.
    pub action: &'static str,
    /// The underlying error.
    pub source: sqlx::Error,
}

/// Progress of one table's cleanup run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Identifies the run across restarts.
    pub run_id: String,
    /// The metadata file the run's reference set was first built from.
    pub metadata_location: String,
    /// Object path of the last candidate processed; later runs resume after it.
    pub last_path: String,
    /// Files deleted by the run so far.
    pub files_deleted: u64,
    /// Deletions that failed so far.
    pub deletion_failures: u64,
    /// Bytes freed so far.
    pub bytes_freed: u64,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the row was last written.
    pub updated_at: DateTime<Utc>,
}

/// Reads and writes checkpoint rows through the catalog database's pool.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    pool: AnyPool,
    dialect: SqlDialect,
    catalog_name: String,
}

impl CheckpointStore {
    /// A store on `pool` (a database speaking `dialect`) for tables of catalog `catalog_name`,
    /// creating the checkpoint table if it does not exist.
    pub async fn open(
        pool: AnyPool,
        dialect: SqlDialect,
        catalog_name: &str,
    ) -> Result<Self, CheckpointError> {
        let store = Self { pool, dialect, catalog_name: catalog_name.to_string() };
        let ddl = dialect.sql(&format!(
            "CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (\
             catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, \
             table_name VARCHAR(255) NOT NULL, run_id VARCHAR(64) NOT NULL, \
             metadata_location TEXT NOT NULL, last_path TEXT NOT NULL, \
             files_deleted BIGINT NOT NULL, deletion_failures BIGINT NOT NULL, \
             bytes_freed BIGINT NOT NULL, started_at_ms BIGINT NOT NULL, \
             updated_at_ms BIGINT NOT NULL, \
             PRIMARY KEY (catalog_name, table_namespace, table_name))"
        ));
        crate::migrate::create_if_missing(&store.pool, &ddl)
            .await
            .map_err(|source| CheckpointError { action: "create table", source })?;
        Ok(store)
    }

    /// The store of `catalog`'s database.
    pub async fn of(catalog: &SignalCatalog) -> Result<Self, CheckpointError> {
        Self::open(catalog.pool().clone(), catalog.dialect(), catalog.name()).await
    }

    /// The checkpoint of `table`, if a run left one.
    pub async fn load(&self, table: &TableIdent) -> Result<Option<Checkpoint>, CheckpointError> {
        let sql = self.dialect.sql(&format!(
            "SELECT run_id, metadata_location, last_path, files_deleted, deletion_failures, \
             bytes_freed, started_at_ms, updated_at_ms FROM {CHECKPOINT_TABLE} \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?"
        ));
        let err = |source| CheckpointError { action: "load", source };
        let row = sqlx::query(&sql)
            .bind(&self.catalog_name)
            .bind(table.namespace().join("."))
            .bind(table.name())
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        let count = |i: usize| row.try_get::<i64, _>(i).map(|v| v.max(0) as u64);
        let time = |i: usize| {
            row.try_get::<i64, _>(i)
                .map(|ms| DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH))
        };
        Ok(Some(Checkpoint {
            run_id: row.try_get(0).map_err(err)?,
            metadata_location: row.try_get(1).map_err(err)?,
            last_path: row.try_get(2).map_err(err)?,
            files_deleted: count(3).map_err(err)?,
            deletion_failures: count(4).map_err(err)?,
            bytes_freed: count(5).map_err(err)?,
            started_at: time(6).map_err(err)?,
            updated_at: time(7).map_err(err)?,
        }))
    }

    /// Records `checkpoint` as `table`'s progress, replacing any earlier row.
    pub async fn save(
        &self,
        table: &TableIdent,
        checkpoint: &Checkpoint,
    ) -> Result<(), CheckpointError> {
        let sql = self.dialect.sql(&format!(
            "INSERT INTO {CHECKPOINT_TABLE} (catalog_name, table_namespace, table_name, run_id, \
             metadata_location, last_path, files_deleted, deletion_failures, bytes_freed, \
             started_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (catalog_name, table_namespace, table_name) DO UPDATE SET \
             run_id = excluded.run_id, metadata_location = excluded.metadata_location, \
             last_path = excluded.last_path, files_deleted = excluded.files_deleted, \
             deletion_failures = excluded.deletion_failures, bytes_freed = excluded.bytes_freed, \
             started_at_ms = excluded.started_at_ms, updated_at_ms = excluded.updated_at_ms"
        ));
        let c = checkpoint;
        let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        sqlx::query(&sql)
            .bind(&self.catalog_name)
            .bind(table.namespace().join("."))
            .bind(table.name())
            .bind(&c.run_id)
            .bind(&c.metadata_location)
            .bind(&c.last_path)
            .bind(signed(c.files_deleted))
            .bind(signed(c.deletion_failures))
            .bind(signed(c.bytes_freed))
            .bind(c.started_at.timestamp_millis())
            .bind(c.updated_at.timestamp_millis())
            .execute(&self.pool)
            .await
            .map_err(|source| CheckpointError { action: "save", source })?;
        Ok(())
    }

    /// Removes `table`'s checkpoint (its run finished).
    pub async fn clear(&self, table: &TableIdent) -> Result<(), CheckpointError> {
        let sql = self.dialect.sql(&format!(
            "DELETE FROM {CHECKPOINT_TABLE} \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?"
        ));
        sqlx::query(&sql)
            .bind(&self.catalog_name)
            .bind(table.namespace().join("."))
            .bind(table.name())
            .execute(&self.pool)
            .await
            .map_err(|source| CheckpointError { action: "clear", source })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
