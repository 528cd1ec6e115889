use common::catalog::SqlDialect;
use common::config::CatalogBackend;

use super::*;
use crate::state::StateStore;
use crate::test_support::any_pool;

/// A fresh SQLite database file's URL, in `dir`.
fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display())
}

/// A PostgreSQL URL whose tables live in a new, empty schema of their own: a database as the
/// first compactor to use it finds it.
async fn fresh_postgres(test: &str) -> Option<String> {
    let url = crate::test_support::postgres_url(test)?;
    let schema = format!("state_{}", uuid::Uuid::new_v4().simple());
    let pool = any_pool(&url).await;
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&pool).await.unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{sep}options%5Bsearch_path%5D={schema}"))
}

/// The versions recorded in the database of `pool`.
async fn versions(pool: &AnyPool) -> Vec<i64> {
    let mut v = applied(pool).await.unwrap();
    v.sort_unstable();
    v
}

/// Every migration's version, in order.
fn all() -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

#[test]
fn versions_only_grow() {
    assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    assert_eq!(latest(), *all().last().unwrap());
}

/// Eight instances migrating one new database at once all succeed, and it ends at the latest
/// version with every migration recorded once.
async fn instances_migrating_at_once_all_succeed(url: &str, backend: CatalogBackend) {
    let pools: Vec<_> = futures::future::join_all((0..8).map(|_| any_pool(url))).await;
    let runs = pools.iter().map(|pool| run(pool, backend));
    for result in futures::future::join_all(runs).await {
        result.unwrap();
    }
    assert_eq!(versions(&pools[0]).await, all());
    let requests = crate::state::runs::REQUEST_COLUMNS.join(", ");
    let columns = format!("SELECT error_kind, instance, {requests} FROM {RUNS_TABLE} WHERE 1 = 0");
    sqlx::query(&columns).fetch_all(&pools[0]).await.unwrap();
}

#[tokio::test]
async fn instances_migrating_at_once_all_succeed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    instances_migrating_at_once_all_succeed(&sqlite_url(&dir), CatalogBackend::Sqlite).await;
}

#[tokio::test]
async fn instances_migrating_at_once_all_succeed_on_postgres() {
    let Some(url) = fresh_postgres("concurrent_migrations_on_postgres").await else { return };
    instances_migrating_at_once_all_succeed(&url, CatalogBackend::Postgres).await;
}

/// A database an earlier version wrote (a run history without instances or failure kinds, with
/// a row) is adopted: its rows read back, the new columns empty.
async fn an_unversioned_database_is_adopted(url: &str, backend: CatalogBackend) {
    let pool = any_pool(url).await;
    sqlx::query(&format!(
        "CREATE TABLE {RUNS_TABLE} (catalog_name VARCHAR(255) NOT NULL, \
         table_namespace VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL, \
         job VARCHAR(32) NOT NULL, started_at_ms BIGINT NOT NULL, finished_at_ms BIGINT NOT NULL, \
         outcome VARCHAR(16) NOT NULL, files_removed BIGINT NOT NULL, files_added BIGINT NOT NULL, \
         bytes_removed BIGINT NOT NULL, bytes_added BIGINT NOT NULL, partitions BIGINT NOT NULL, \
         snapshots BIGINT NOT NULL, error TEXT NOT NULL)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO {RUNS_TABLE} VALUES ('signaldb', 'acme.prod', 'logs', 'compaction', \
         1000, 2000, 'failure', 3, 1, 300, 100, 1, 1, 'boom')"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let store = StateStore::open_pool(pool.clone(), SqlDialect::new(backend), "signaldb");
    let runs = store.await.unwrap().runs();
    assert_eq!(versions(&pool).await, all());
    let logs = common::tables::TableId::new("acme", "prod", common::TableKind::Logs).unwrap();
    let old = runs.runs(&logs, crate::job::JobKind::Compaction, 10).await.unwrap();
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!((old[0].error.as_deref(), old[0].error_kind), (Some("boom"), None));
    assert_eq!((old[0].instance.as_str(), old[0].changes.files_removed), ("", 3));
    assert_eq!(old[0].requests, Default::default(), "no requests were counted then");
}

#[tokio::test]
async fn an_unversioned_database_is_adopted_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    an_unversioned_database_is_adopted(&sqlite_url(&dir), CatalogBackend::Sqlite).await;
}

#[tokio::test]
async fn an_unversioned_database_is_adopted_on_postgres() {
    let Some(url) = fresh_postgres("adopted_on_postgres").await else { return };
    an_unversioned_database_is_adopted(&url, CatalogBackend::Postgres).await;
}

#[tokio::test]
async fn a_migrated_database_is_only_read() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let pool = any_pool(&url).await;
    run(&pool, CatalogBackend::Sqlite).await.unwrap();
    // Another connection holds the write lock: checking again must not need it.
    let mut writer = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("SELECT 1").fetch_one(&mut *writer).await.unwrap();
    let started = std::time::Instant::now();
    run(&pool, CatalogBackend::Sqlite).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "it waited for the lock");
    writer.rollback().await.unwrap();
}

#[tokio::test]
async fn a_database_is_migrated_once_per_process() {
    let dir = tempfile::tempdir().unwrap();
    let pool = any_pool(&sqlite_url(&dir)).await;
    let dialect = SqlDialect::new(CatalogBackend::Sqlite);
    StateStore::open_pool(pool.clone(), dialect, "a").await.unwrap();
    sqlx::query(&format!("DROP TABLE {MIGRATIONS_TABLE}")).execute(&pool).await.unwrap();
    // Opened again (another catalog name, another pool on the same file): no statement runs,
    // so the dropped table stays dropped.
    let again = any_pool(&sqlite_url(&dir)).await;
    StateStore::open_pool(again, dialect, "b").await.unwrap();
    let left = format!("SELECT version FROM {MIGRATIONS_TABLE}");
    assert!(sqlx::query(&left).fetch_all(&pool).await.is_err(), "the migrations ran again");
}
