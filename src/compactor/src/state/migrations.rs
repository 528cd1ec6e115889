//! The versioned migrations of the state store's tables: an ordered list, each applied once per
//! database and recorded in `signaldb_compactor_migrations`.
//!
//! A migration is a list of steps written per dialect (what `sqlx::migrate!` cannot render for
//! both). All pending migrations run in one transaction that holds the database's migration
//! turn: a transaction-scoped advisory lock on PostgreSQL (whose DDL is transactional), the
//! write lock of `BEGIN IMMEDIATE` on SQLite, so instances starting together take turns and
//! the later ones find the work done. A database that needs nothing is only read.
//!
//! The first migration adopts databases written before there were versions: its tables may
//! already exist, in any earlier layout, so each of its steps is idempotent (create if missing,
//! add a column if missing), and a foreign table of a store's name is reported naming it.

use common::config::CatalogBackend;
use sqlx::{AnyConnection, AnyPool, Row};

use super::checkpoints::CHECKPOINT_TABLE;
use super::error::{StateError, Store};
use super::idle::IDLE_TABLE;
use super::leases::{LAYOUT_CHECK, LEASES_TABLE};
use super::runs::{REQUEST_COLUMNS, RUNS_TABLE};

/// Name of the table of applied migrations in the catalog database.
pub(crate) const MIGRATIONS_TABLE: &str = "signaldb_compactor_migrations";

/// The key of the PostgreSQL advisory lock migrations run under ("sdbstate" in ASCII).
const MIGRATION_LOCK: i64 = 0x7364_6273_7461_7465;

/// One migration: applied once per database, in version order.
pub(super) struct Migration {
    /// Its version; versions only grow.
    pub(super) version: i64,
    /// What it does, as recorded.
    pub(super) name: &'static str,
    /// Its steps, in the dialect of a backend.
    pub(super) steps: fn(CatalogBackend) -> Vec<Step>,
}

/// One step of a migration.
pub(super) enum Step {
    /// Runs an idempotent statement (`CREATE … IF NOT EXISTS`).
    Run {
        /// Whose table it changes.
        store: Store,
        /// What it does, for its error.
        action: &'static str,
        /// The statement.
        sql: String,
    },
    /// Runs a query that fails unless the database is as expected (a table's layout).
    Check {
        /// Whose table it checks.
        store: Store,
        /// What it checks, for its error: names the table and what to do.
        action: &'static str,
        /// The query.
        sql: String,
    },
    /// Adds a column unless the table has it.
    AddColumn {
        /// Whose table it changes.
        store: Store,
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Its declaration, which must give existing rows a value.
        definition: &'static str,
    },
}

/// Every migration, in version order.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "leases, run history and checkpoints", steps: tables },
    Migration { version: 2, name: "run history error kinds", steps: error_kinds },
    Migration { version: 3, name: "run history object-store requests", steps: request_counts },
    Migration { version: 4, name: "idle table marks", steps: idle_marks },
];

/// The three tables in their layout before versions, adopting every earlier one.
fn tables(_: CatalogBackend) -> Vec<Step> {
    vec![
        Step::Run {
            store: Store::Leases,
            action: "create table",
            sql: format!(
                "CREATE TABLE IF NOT EXISTS {LEASES_TABLE} (\
                 catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, \
                 table_name VARCHAR(255) NOT NULL, job VARCHAR(32) NOT NULL, \
                 owner VARCHAR(255) NOT NULL, token BIGINT NOT NULL, \
                 expires_at_ms BIGINT NOT NULL, taken_from VARCHAR(255), \
                 PRIMARY KEY (catalog_name, table_namespace, table_name, job))"
            ),
        },
        // Another program's table of the same name is reported here, before it is altered.
        Step::Check {
            store: Store::Leases,
            action: LAYOUT_CHECK,
            sql: format!(
                "SELECT catalog_name, table_namespace, table_name, job, owner, token, \
                 expires_at_ms FROM {LEASES_TABLE} WHERE 1 = 0"
            ),
        },
        // The first layout of the lease table had no `taken_from`.
        Step::AddColumn {
            store: Store::Leases,
            table: LEASES_TABLE,
            column: "taken_from",
            definition: "VARCHAR(255)",
        },
        Step::Run {
            store: Store::Runs,
            action: "create table",
            sql: format!(
                "CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (\
                 catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, \
                 table_name VARCHAR(255) NOT NULL, job VARCHAR(32) NOT NULL, \
                 started_at_ms BIGINT NOT NULL, finished_at_ms BIGINT NOT NULL, \
                 outcome VARCHAR(16) NOT NULL, files_removed BIGINT NOT NULL, \
                 files_added BIGINT NOT NULL, bytes_removed BIGINT NOT NULL, \
                 bytes_added BIGINT NOT NULL, partitions BIGINT NOT NULL, \
                 snapshots BIGINT NOT NULL, error TEXT NOT NULL, \
                 instance VARCHAR(255) NOT NULL DEFAULT '')"
            ),
        },
        Step::Run {
            store: Store::Runs,
            action: "create index",
            sql: format!(
                "CREATE INDEX IF NOT EXISTS {RUNS_TABLE}_by_table ON {RUNS_TABLE} \
                 (catalog_name, table_namespace, table_name, job, started_at_ms)"
            ),
        },
        // Histories written before instances had ids lack the column.
        Step::AddColumn {
            store: Store::Runs,
            table: RUNS_TABLE,
            column: "instance",
            definition: "VARCHAR(255) NOT NULL DEFAULT ''",
        },
        Step::Run {
            store: Store::Checkpoints,
            action: "create table",
            sql: format!(
                "CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (\
                 catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, \
                 table_name VARCHAR(255) NOT NULL, run_id VARCHAR(64) NOT NULL, \
                 metadata_location TEXT NOT NULL, last_path TEXT NOT NULL, \
                 files_deleted BIGINT NOT NULL, deletion_failures BIGINT NOT NULL, \
                 bytes_freed BIGINT NOT NULL, started_at_ms BIGINT NOT NULL, \
                 updated_at_ms BIGINT NOT NULL, \
                 PRIMARY KEY (catalog_name, table_namespace, table_name))"
            ),
        },
    ]
}

/// The kind of a failed run (`crate::failure::FailureKind`); older rows have none.
fn error_kinds(_: CatalogBackend) -> Vec<Step> {
    vec![Step::AddColumn {
        store: Store::Runs,
        table: RUNS_TABLE,
        column: "error_kind",
        definition: "VARCHAR(32)",
    }]
}

/// The object-store requests of a run ([`crate::state::RunRecord::requests`]): a count per
/// operation and the bytes read and written; older rows read 0.
fn request_counts(_: CatalogBackend) -> Vec<Step> {
    REQUEST_COLUMNS
        .iter()
        .map(|column| Step::AddColumn {
            store: Store::Runs,
            table: RUNS_TABLE,
            column,
            definition: "BIGINT NOT NULL DEFAULT 0",
        })
        .collect()
}

/// Where each job last found a table idle (`super::idle`).
fn idle_marks(_: CatalogBackend) -> Vec<Step> {
    vec![Step::Run {
        store: Store::Idle,
        action: "create table",
        sql: format!(
            "CREATE TABLE IF NOT EXISTS {IDLE_TABLE} (\
             catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, \
             table_name VARCHAR(255) NOT NULL, job VARCHAR(32) NOT NULL, \
             metadata_location TEXT NOT NULL, settings VARCHAR(64) NOT NULL, \
             checked_at_ms BIGINT NOT NULL, \
             PRIMARY KEY (catalog_name, table_namespace, table_name, job))"
        ),
    }]
}

/// The newest version [`MIGRATIONS`] brings a database to.
#[cfg(test)]
fn latest() -> i64 {
    MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Brings the database of `pool` (a `backend` one) to the latest version. Only reads when it
/// is there already; a failed attempt is tried again a few times (an instance of an earlier
/// version may be creating the same table at that moment).
pub(super) async fn run(pool: &AnyPool, backend: CatalogBackend) -> Result<(), StateError> {
    // Every version, not only the latest: a database may hold a later one without an earlier.
    let done = |versions: Vec<i64>| MIGRATIONS.iter().all(|m| versions.contains(&m.version));
    if applied(pool).await.is_ok_and(done) {
        return Ok(());
    }
    let mut attempt = 0;
    loop {
        match migrate(pool, backend).await {
            Ok(()) => return Ok(()),
            Err(_) if attempt < 3 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The versions applied to the database, read with `executor`.
async fn applied<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows =
        sqlx::query(&format!("SELECT version FROM {MIGRATIONS_TABLE}")).fetch_all(executor).await?;
    rows.iter().map(|row| row.try_get("version")).collect()
}

/// Applies every pending migration in one transaction holding the database's migration turn.
async fn migrate(pool: &AnyPool, backend: CatalogBackend) -> Result<(), StateError> {
    let err = StateError::of(Store::Migrations, "begin");
    let mut tx = match backend {
        CatalogBackend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?,
        CatalogBackend::Postgres => {
            let mut tx = pool.begin().await.map_err(err)?;
            sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
                .bind(MIGRATION_LOCK)
                .fetch_one(&mut *tx)
                .await
                .map_err(StateError::of(Store::Migrations, "lock"))?;
            tx
        }
    };
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version BIGINT NOT NULL PRIMARY KEY, \
         name VARCHAR(255) NOT NULL, applied_at_ms BIGINT NOT NULL)"
    ))
    .execute(&mut *tx)
    .await
    .map_err(StateError::of(Store::Migrations, "create table"))?;
    let done = applied(&mut *tx).await.map_err(StateError::of(Store::Migrations, "read"))?;
    let record = common::catalog::SqlDialect::new(backend).sql(&format!(
        "INSERT INTO {MIGRATIONS_TABLE} (version, name, applied_at_ms) VALUES (?, ?, {})",
        super::db::now_ms(backend)
    ));
    for migration in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        for step in (migration.steps)(backend) {
            apply(&mut tx, backend, &step).await?;
        }
        sqlx::query(&record)
            .bind(migration.version)
            .bind(migration.name)
            .execute(&mut *tx)
            .await
            .map_err(StateError::of(Store::Migrations, "record"))?;
    }
    tx.commit().await.map_err(StateError::of(Store::Migrations, "commit"))
}

/// Applies `step` on `conn`, in `backend`'s dialect.
async fn apply(
    conn: &mut AnyConnection,
    backend: CatalogBackend,
    step: &Step,
) -> Result<(), StateError> {
    match step {
        Step::Run { store, action, sql } => {
            sqlx::query(sql).execute(&mut *conn).await.map_err(StateError::of(*store, action))?;
        }
        Step::Check { store, action, sql } => {
            sqlx::query(sql).fetch_all(&mut *conn).await.map_err(StateError::of(*store, action))?;
        }
        Step::AddColumn { store, table, column, definition } => {
            let err = StateError::of(*store, "add column");
            let alter = format!("ALTER TABLE {table} ADD COLUMN");
            match backend {
                CatalogBackend::Postgres => {
                    let sql = format!("{alter} IF NOT EXISTS {column} {definition}");
                    sqlx::query(&sql).execute(&mut *conn).await.map_err(err)?;
                }
                CatalogBackend::Sqlite => {
                    let has = "SELECT count(*) AS n FROM pragma_table_info(?) WHERE name = ?";
                    let row = sqlx::query(has)
                        .bind(*table)
                        .bind(*column)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(&err)?;
                    if row.try_get::<i64, _>("n").map_err(&err)? == 0 {
                        let sql = format!("{alter} {column} {definition}");
                        sqlx::query(&sql).execute(&mut *conn).await.map_err(err)?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
