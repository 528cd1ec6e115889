use common::catalog::SqlDialect;
use common::config::CatalogBackend;
use iceberg::NamespaceIdent;
use sqlx::AnyPool;

use super::*;
use crate::state::StateStore;
use crate::test_support::any_pool;

/// The checkpoints of catalog `catalog` on `pool`, a `backend` database.
async fn open(pool: AnyPool, backend: CatalogBackend, catalog: &str) -> Checkpoints {
    let store = StateStore::open_pool(pool, SqlDialect::new(backend), catalog).await.unwrap();
    store.checkpoints()
}

fn ident(ns: &str, name: &str) -> TableIdent {
    TableIdent::new(NamespaceIdent::from_strs(ns.split('.')).unwrap(), name.to_string())
}

fn sample(last: &str, deleted: u64) -> Checkpoint {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    Checkpoint {
        run_id: "run-1".into(),
        metadata_location: "file:///w/acme/prod/traces/metadata/00003-x.metadata.json".into(),
        last_path: last.into(),
        files_deleted: deleted,
        deletion_failures: 1,
        bytes_freed: 5_000_000_000,
        started_at: at("2026-01-15T10:00:00Z"),
        updated_at: at("2026-01-15T10:05:00.123Z"),
    }
}

/// Saves, replaces, isolates and clears checkpoints under catalog `catalog` of `pool`.
async fn round_trip(pool: AnyPool, backend: CatalogBackend, catalog: &str) {
    let store = open(pool.clone(), backend, catalog).await;
    // Opening again finds the table in place.
    let other_catalog = open(pool, backend, &format!("{catalog}-other")).await;
    let traces = ident("acme.prod", "traces");
    let logs = ident("acme.prod", "logs");
    assert_eq!(store.load(&traces).await.unwrap(), None);

    let first = sample("w/acme/prod/traces/data/a.parquet", 1000);
    store.save(&traces, &first).await.unwrap();
    assert_eq!(store.load(&traces).await.unwrap(), Some(first.clone()));
    assert_eq!(store.load(&logs).await.unwrap(), None);
    assert_eq!(other_catalog.load(&traces).await.unwrap(), None);

    let second = sample("w/acme/prod/traces/data/b.parquet", 2000);
    store.save(&traces, &second).await.unwrap();
    assert_eq!(store.load(&traces).await.unwrap(), Some(second));

    store.clear(&traces).await.unwrap();
    assert_eq!(store.load(&traces).await.unwrap(), None);
}

#[tokio::test]
async fn checkpoints_round_trip_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
    round_trip(any_pool(&url).await, CatalogBackend::Sqlite, "signaldb").await;
}

#[tokio::test]
async fn checkpoints_round_trip_on_postgres() {
    let Some(url) = crate::test_support::postgres_url("checkpoints_round_trip_on_postgres") else {
        return;
    };
    let catalog = format!("test-{}", uuid::Uuid::new_v4().simple());
    round_trip(any_pool(&url).await, CatalogBackend::Postgres, &catalog).await;
}

#[tokio::test]
async fn postgres_placeholders_are_numbered() {
    // The store renders its statements in the dialect it was opened with.
    let store = async |backend| {
        let pool = any_pool("sqlite::memory:").await;
        let dialect = SqlDialect::new(backend);
        Checkpoints::new(crate::state::db::Db { pool, dialect, catalog_name: "c".into() })
    };
    let sql = "SELECT a FROM t WHERE x = ? AND y = ?";
    assert_eq!(store(CatalogBackend::Sqlite).await.db.sql(sql), sql);
    assert_eq!(
        store(CatalogBackend::Postgres).await.db.sql(sql),
        "SELECT a FROM t WHERE x = $1 AND y = $2"
    );
}
