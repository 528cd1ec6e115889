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
use iceberg::TableIdent;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::db::{Db, count, signed, time};
use super::error::{StateError, Store};

/// Name of the checkpoint table in the catalog database.
pub(crate) const CHECKPOINT_TABLE: &str = "signaldb_orphan_checkpoints";

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

/// The checkpoints of one catalog's tables.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    db: Db,
}

impl Checkpoints {
    pub(super) fn new(db: Db) -> Self {
        Self { db }
    }

    /// The checkpoint of `table`, if a run left one.
    pub async fn load(&self, table: &TableIdent) -> Result<Option<Checkpoint>, StateError> {
        let sql = self.db.sql(&format!(
            "SELECT run_id, metadata_location, last_path, files_deleted, deletion_failures, \
             bytes_freed, started_at_ms, updated_at_ms FROM {CHECKPOINT_TABLE} \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?"
        ));
        let err = StateError::of(Store::Checkpoints, "load");
        let row = sqlx::query(&sql)
            .bind(&*self.db.catalog_name)
            .bind(table.namespace().join("."))
            .bind(table.name())
            .fetch_optional(&self.db.pool)
            .await
            .map_err(&err)?;
        row.as_ref().map(checkpoint).transpose().map_err(err)
    }

    /// Records `checkpoint` as `table`'s progress, replacing any earlier row.
    pub async fn save(
        &self,
        table: &TableIdent,
        checkpoint: &Checkpoint,
    ) -> Result<(), StateError> {
        let sql = self.db.sql(&format!(
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
        sqlx::query(&sql)
            .bind(&*self.db.catalog_name)
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
            .execute(&self.db.pool)
            .await
            .map_err(StateError::of(Store::Checkpoints, "save"))?;
        Ok(())
    }

    /// Removes `table`'s checkpoint (its run finished).
    pub async fn clear(&self, table: &TableIdent) -> Result<(), StateError> {
        let sql = self.db.sql(&format!(
            "DELETE FROM {CHECKPOINT_TABLE} \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?"
        ));
        sqlx::query(&sql)
            .bind(&*self.db.catalog_name)
            .bind(table.namespace().join("."))
            .bind(table.name())
            .execute(&self.db.pool)
            .await
            .map_err(StateError::of(Store::Checkpoints, "clear"))?;
        Ok(())
    }
}

/// The checkpoint `row` holds.
fn checkpoint(row: &AnyRow) -> Result<Checkpoint, sqlx::Error> {
    Ok(Checkpoint {
        run_id: row.try_get("run_id")?,
        metadata_location: row.try_get("metadata_location")?,
        last_path: row.try_get("last_path")?,
        files_deleted: count(row, "files_deleted")?,
        deletion_failures: count(row, "deletion_failures")?,
        bytes_freed: count(row, "bytes_freed")?,
        started_at: time(row, "started_at_ms")?,
        updated_at: time(row, "updated_at_ms")?,
    })
}

#[cfg(test)]
mod tests;
