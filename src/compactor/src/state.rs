//! The compactor's own tables in the catalog database, behind one store: table leases
//! ([`Leases`]), the run history ([`Runs`]), orphan-cleanup checkpoints ([`Checkpoints`]) and
//! the marks of tables a job found idle ([`IdleMarks`]).
//!
//! The tables are created and changed by versioned migrations (`migrations.rs`), recorded in
//! `signaldb_compactor_migrations` and run on the first [`StateStore::open`] of a database in
//! the process; later opens issue no statement at all. Several instances starting together
//! take turns (PostgreSQL: an advisory lock; SQLite: its write lock), and the first migrations
//! adopt the tables every earlier version created. Each repository reads its columns by name
//! and writes every statement once, with `?` placeholders rendered in the catalog's dialect.
//! Lease times are the database's clock, never the compactor's.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use common::catalog::{SignalCatalog, SqlDialect};
use sqlx::AnyPool;
use tokio::sync::OnceCell;

mod checkpoints;
mod db;
mod error;
mod idle;
pub(crate) mod leases;
mod migrations;
mod run_listing;
pub(crate) mod runs;

pub(crate) use checkpoints::{Checkpoint, Checkpoints};
use db::Db;
pub(crate) use error::StateError;
pub(crate) use idle::{IdleMark, IdleMarks};
#[cfg(test)]
pub(crate) use leases::LEASES_TABLE;
pub(crate) use leases::{Fence, Holder, Lease, Leases};
pub(crate) use run_listing::{RunCursor, RunFilter};
pub(crate) use runs::{RecentRuns, RunOutcome, RunRecord, Runs, kept};

/// The compactor's tables in one catalog database, for one catalog name: cheap to clone, and
/// each repository it hands out is too.
#[derive(Debug, Clone)]
pub struct StateStore {
    db: Db,
}

/// The databases this process has migrated, by URL: each is migrated once, by the first open.
static MIGRATED: LazyLock<Mutex<HashMap<String, Arc<OnceCell<()>>>>> =
    LazyLock::new(Mutex::default);

impl StateStore {
    /// The store of `catalog`'s database, migrating it first when this process has not yet.
    pub async fn open(catalog: &SignalCatalog) -> Result<Self, StateError> {
        Self::open_pool(catalog.pool().clone(), catalog.dialect(), catalog.name()).await
    }

    /// The store on `pool` (speaking `dialect`) for the tables of catalog `catalog_name`,
    /// migrating the database first when this process has not yet. An in-memory SQLite
    /// database is a database of its own per pool, so it is checked on every open.
    pub async fn open_pool(
        pool: AnyPool,
        dialect: SqlDialect,
        catalog_name: &str,
    ) -> Result<Self, StateError> {
        let url = pool.connect_options().database_url.to_string();
        let backend = dialect.backend();
        if url.contains(":memory:") || url.contains("mode=memory") {
            migrations::run(&pool, backend).await?;
        } else {
            let once = {
                let mut migrated = MIGRATED.lock().unwrap_or_else(|e| e.into_inner());
                Arc::clone(migrated.entry(url).or_default())
            };
            once.get_or_try_init(|| migrations::run(&pool, backend)).await?;
        }
        Ok(Self { db: Db { pool, dialect, catalog_name: catalog_name.into() } })
    }

    /// The leases of this catalog's tables.
    pub fn leases(&self) -> Leases {
        Leases::new(self.db.clone())
    }

    /// The run history of this catalog's tables.
    pub fn runs(&self) -> Runs {
        Runs::new(self.db.clone())
    }

    /// The idle marks of this catalog's tables: where each job last found nothing to do.
    pub fn idle(&self) -> IdleMarks {
        IdleMarks::new(self.db.clone())
    }

    /// The orphan-cleanup checkpoints of this catalog's tables.
    pub fn checkpoints(&self) -> Checkpoints {
        Checkpoints::new(self.db.clone())
    }
}
