//! Idle marks: per table and job, the metadata location at which a pass last found nothing to
//! do, so that later passes leave the table unloaded while its location stays the same.
//!
//! Rows live in table `signaldb_compactor_idle`, keyed by catalog name, namespace, table and
//! job; every instance reads and writes the same marks, so a table one instance found idle is
//! left alone by the others too. A pass reads every mark of its job in one statement; a mark is
//! written when a run finds nothing to do and cleared when one finds something or fails. A mark
//! also records the settings it was found idle under and when: a mark of other settings, or
//! older than the full-check interval, does not count.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use common::tables::TableId;
use iceberg::{NamespaceIdent, TableIdent};
use sqlx::Row;

use super::db::{Db, time};
use super::error::{StateError, Store};
use crate::job::JobKind;

/// Name of the idle-mark table in the catalog database.
pub(crate) const IDLE_TABLE: &str = "signaldb_compactor_idle";

/// A run that found nothing to do on a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleMark {
    /// The metadata file the run read: while the table still points at it, nothing changed.
    pub metadata_location: String,
    /// A fingerprint of the settings the run planned with (other settings may find work).
    pub settings: String,
    /// When the pass that made the run started: the table's last full check.
    pub checked_at: DateTime<Utc>,
}

/// The idle marks of one catalog's tables.
#[derive(Debug, Clone)]
pub struct IdleMarks {
    db: Db,
}

impl IdleMarks {
    pub(super) fn new(db: Db) -> Self {
        Self { db }
    }

    /// Every mark of `job`, by table, in one statement (rows of tables that are not signal
    /// tables are left out).
    pub async fn of_job(&self, job: JobKind) -> Result<HashMap<TableId, IdleMark>, StateError> {
        let sql = self.db.sql(&format!(
            "SELECT table_namespace, table_name, metadata_location, settings, checked_at_ms \
             FROM {IDLE_TABLE} WHERE catalog_name = ? AND job = ?"
        ));
        let err = StateError::of(Store::Idle, "read");
        let rows = sqlx::query(&sql)
            .bind(&*self.db.catalog_name)
            .bind(job.as_str())
            .fetch_all(&self.db.pool)
            .await
            .map_err(&err)?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in &rows {
            let namespace: String = row.try_get("table_namespace").map_err(&err)?;
            let name: String = row.try_get("table_name").map_err(&err)?;
            let Ok(ns) = NamespaceIdent::from_strs(namespace.split('.')) else { continue };
            let Ok(id) = TableId::from_ident(&TableIdent::new(ns, name)) else { continue };
            let mark = IdleMark {
                metadata_location: row.try_get("metadata_location").map_err(&err)?,
                settings: row.try_get("settings").map_err(&err)?,
                checked_at: time(row, "checked_at_ms").map_err(&err)?,
            };
            out.insert(id, mark);
        }
        Ok(out)
    }

    /// Records that `job` found nothing to do on `table` as `mark` says, replacing its mark.
    pub async fn mark(
        &self,
        table: &TableId,
        job: JobKind,
        mark: &IdleMark,
    ) -> Result<(), StateError> {
        let sql = self.db.sql(&format!(
            "INSERT INTO {IDLE_TABLE} (catalog_name, table_namespace, table_name, job, \
             metadata_location, settings, checked_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (catalog_name, table_namespace, table_name, job) DO UPDATE SET \
             metadata_location = excluded.metadata_location, settings = excluded.settings, \
             checked_at_ms = excluded.checked_at_ms"
        ));
        let ident = table.ident();
        sqlx::query(&sql)
            .bind(&*self.db.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(job.as_str())
            .bind(&mark.metadata_location)
            .bind(&mark.settings)
            .bind(mark.checked_at.timestamp_millis())
            .execute(&self.db.pool)
            .await
            .map_err(StateError::of(Store::Idle, "mark"))?;
        Ok(())
    }

    /// Removes `job`'s mark of `table`: its next pass loads it.
    pub async fn clear(&self, table: &TableId, job: JobKind) -> Result<(), StateError> {
        let sql = self.db.sql(&format!(
            "DELETE FROM {IDLE_TABLE} \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND job = ?"
        ));
        let ident = table.ident();
        sqlx::query(&sql)
            .bind(&*self.db.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(job.as_str())
            .execute(&self.db.pool)
            .await
            .map_err(StateError::of(Store::Idle, "clear"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use common::TableKind;
    use common::catalog::SqlDialect;
    use common::config::CatalogBackend;
    use sqlx::AnyPool;

    use super::*;
    use crate::state::StateStore;
    use crate::test_support::any_pool;

    fn id(tenant: &str, kind: TableKind) -> TableId {
        TableId::new(tenant, "prod", kind).unwrap()
    }

    fn mark(location: &str, minute: u32) -> IdleMark {
        IdleMark {
            metadata_location: location.into(),
            settings: "s1".into(),
            checked_at: format!("2026-01-15T10:{minute:02}:00Z").parse().unwrap(),
        }
    }

    /// Marks, replaces, isolates by job and catalog, and clears, on `pool`.
    async fn round_trip(pool: AnyPool, backend: CatalogBackend, catalog: &str) {
        let open = async |name: &str| {
            let dialect = SqlDialect::new(backend);
            StateStore::open_pool(pool.clone(), dialect, name).await.unwrap().idle()
        };
        let marks = open(catalog).await;
        let other_catalog = open(&format!("{catalog}-other")).await;
        let (traces, logs) = (id("acme", TableKind::Traces), id("acme", TableKind::Logs));
        assert!(marks.of_job(JobKind::Compaction).await.unwrap().is_empty());

        marks.mark(&traces, JobKind::Compaction, &mark("m1", 0)).await.unwrap();
        marks.mark(&logs, JobKind::Compaction, &mark("m2", 0)).await.unwrap();
        marks.mark(&traces, JobKind::Retention, &mark("m1", 1)).await.unwrap();
        marks.mark(&traces, JobKind::Compaction, &mark("m3", 5)).await.unwrap();
        let found = marks.of_job(JobKind::Compaction).await.unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[&traces], mark("m3", 5));
        assert_eq!(found[&logs], mark("m2", 0));
        assert_eq!(marks.of_job(JobKind::Retention).await.unwrap()[&traces], mark("m1", 1));
        assert!(other_catalog.of_job(JobKind::Compaction).await.unwrap().is_empty());

        marks.clear(&traces, JobKind::Compaction).await.unwrap();
        let found = marks.of_job(JobKind::Compaction).await.unwrap();
        assert_eq!(found.keys().collect::<Vec<_>>(), [&logs]);
        assert_eq!(marks.of_job(JobKind::Retention).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn idle_marks_round_trip_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
        round_trip(any_pool(&url).await, CatalogBackend::Sqlite, "signaldb").await;
    }

    #[tokio::test]
    async fn idle_marks_round_trip_on_postgres() {
        let Some(url) = crate::test_support::postgres_url("idle_marks_round_trip_on_postgres")
        else {
            return;
        };
        let catalog = format!("test-{}", uuid::Uuid::new_v4().simple());
        round_trip(any_pool(&url).await, CatalogBackend::Postgres, &catalog).await;
    }
}
