use common::TableKind;
use common::config::CatalogBackend;

use super::*;
use crate::test_support::any_pool;

/// Acquisition, exclusion, renewal, takeover after expiry with a larger token, release, and
/// isolation between catalogs and jobs, under catalog `catalog` of `pool`.
async fn leases_exclude_and_fence(pool: AnyPool, backend: CatalogBackend, catalog: &str) {
    let dialect = SqlDialect::new(backend);
    let store = LeaseStore::open(pool.clone(), dialect, catalog).await.unwrap();
    let other = LeaseStore::open(pool, dialect, &format!("{catalog}-other")).await.unwrap();
    let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let t0 = "2026-01-15T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let ttl = Duration::seconds(30);
    let job = JobKind::Compaction;

    let mut a = store.acquire(&logs, job, "a", t0, ttl).await.unwrap().expect("free");
    assert_eq!((a.token, a.expires_at), (1, t0 + ttl));
    assert_eq!(a.taken_from, None, "it was free");
    assert_eq!(store.acquire(&logs, job, "b", t0, ttl).await.unwrap(), None, "held by a");
    // One job per table at a time, whoever asks; another table or catalog is separate.
    for owner in ["a", "b"] {
        let retention = store.acquire(&logs, JobKind::Retention, owner, t0, ttl).await.unwrap();
        assert_eq!(retention, None, "{owner} must not run retention while a compacts");
    }
    let traces = TableId::new("acme", "prod", TableKind::Traces).unwrap();
    assert!(store.acquire(&traces, JobKind::Retention, "b", t0, ttl).await.unwrap().is_some());
    assert!(other.acquire(&logs, job, "b", t0, ttl).await.unwrap().is_some());

    // Renewed, the lease outlives its first expiry.
    let t1 = t0 + Duration::seconds(20);
    assert!(store.renew(&mut a, t1, ttl).await.unwrap());
    assert_eq!(
        store.acquire(&logs, job, "b", t0 + Duration::seconds(40), ttl).await.unwrap(),
        None
    );
    let held = store.holders(t1).await.unwrap();
    assert_eq!(held.len(), 2, "{held:?}");
    assert_eq!(
        (held[0].job.as_str(), held[0].owner.as_str(), held[0].token),
        ("compaction", "a", 1)
    );

    // Expired, it is taken over with a larger token; the old holder can neither renew nor
    // release the new holder's lease.
    let t2 = t1 + ttl + Duration::seconds(1);
    let b = store.acquire(&logs, job, "b", t2, ttl).await.unwrap().expect("expired");
    assert!(b.token > a.token, "{} > {}", b.token, a.token);
    assert_eq!(b.taken_from.as_deref(), Some("a"), "a's lease expired unreleased");
    let held = store.holder_of(&logs, t2).await.unwrap().expect("b holds it");
    assert_eq!((held.owner.as_str(), held.taken_from.as_deref()), ("b", Some("a")));
    assert!(!store.renew(&mut a, t2, ttl).await.unwrap(), "a lost it");
    store.release(&a).await.unwrap();
    assert_eq!(store.acquire(&logs, job, "c", t2, ttl).await.unwrap(), None, "still b's");

    // Released, it is free at once, and the next token is larger still.
    store.release(&b).await.unwrap();
    let c = store.acquire(&logs, job, "c", t2, ttl).await.unwrap().expect("released");
    assert!(c.token > b.token);
    assert_eq!(c.taken_from, None, "b released it");
    // Released, another job may take the table.
    store.release(&c).await.unwrap();
    let r = store.acquire(&logs, JobKind::Retention, "c", t2, ttl).await.unwrap();
    assert!(r.is_some(), "no other job holds the table");
    store.release(&r.unwrap()).await.unwrap();
    let c = store.acquire(&logs, job, "c", t2, ttl).await.unwrap().expect("free again");
    // The holder acquiring again keeps it (and gets a new token).
    let c2 = store.acquire(&logs, job, "c", t2, ttl).await.unwrap().expect("own");
    assert!(c2.token > c.token);
}

#[tokio::test]
async fn leases_exclude_and_fence_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
    leases_exclude_and_fence(any_pool(&url).await, CatalogBackend::Sqlite, "signaldb").await;
}

#[tokio::test]
async fn leases_exclude_and_fence_on_postgres() {
    let Some(url) = crate::test_support::postgres_url("leases_exclude_and_fence_on_postgres")
    else {
        return;
    };
    let catalog = format!("test-{}", uuid::Uuid::new_v4().simple());
    leases_exclude_and_fence(any_pool(&url).await, CatalogBackend::Postgres, &catalog).await;
}

/// Eight instances race for one table, each asking for one of the three jobs: exactly one
/// wins, whatever job it asked for.
async fn only_one_of_many_racing_instances_acquires(store: LeaseStore) {
    let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let now = Utc::now();
    let attempts = (0..8).map(|i| {
        let (store, logs) = (store.clone(), logs.clone());
        tokio::spawn(async move {
            let owner = format!("instance-{i}");
            let job = JobKind::ALL[i % JobKind::ALL.len()];
            store.acquire(&logs, job, &owner, now, Duration::seconds(30)).await
        })
    });
    let won = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().as_ref().unwrap().is_some())
        .count();
    assert_eq!(won, 1);
    assert_eq!(store.holders(now).await.unwrap().len(), 1);
}

#[tokio::test]
async fn only_one_of_many_racing_instances_acquires_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
    let dialect = SqlDialect::new(CatalogBackend::Sqlite);
    let store = LeaseStore::open(any_pool(&url).await, dialect, "signaldb").await.unwrap();
    only_one_of_many_racing_instances_acquires(store).await;
}

#[tokio::test]
async fn only_one_of_many_racing_instances_acquires_on_postgres() {
    let Some(url) = crate::test_support::postgres_url("racing_instances_on_postgres") else {
        return;
    };
    let catalog = format!("test-{}", uuid::Uuid::new_v4().simple());
    let dialect = SqlDialect::new(CatalogBackend::Postgres);
    let store = LeaseStore::open(any_pool(&url).await, dialect, &catalog).await.unwrap();
    only_one_of_many_racing_instances_acquires(store).await;
}

#[tokio::test]
async fn a_lease_table_of_the_first_layout_is_migrated_and_a_foreign_one_reported() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
    let pool = any_pool(&url).await;
    let dialect = SqlDialect::new(CatalogBackend::Sqlite);
    sqlx::query(&format!(
        "CREATE TABLE {LEASES_TABLE} (catalog_name VARCHAR(255) NOT NULL, \
         table_namespace VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL, \
         job VARCHAR(32) NOT NULL, owner VARCHAR(255) NOT NULL, token BIGINT NOT NULL, \
         expires_at_ms BIGINT NOT NULL, \
         PRIMARY KEY (catalog_name, table_namespace, table_name, job))"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO {LEASES_TABLE} VALUES ('signaldb', 'acme.prod', 'logs', 'compaction', \
         'old', 7, 0)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let store = LeaseStore::open(pool, dialect, "signaldb").await.unwrap();
    let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let now = Utc::now();
    let lease = store.acquire(&logs, JobKind::Compaction, "new", now, Duration::seconds(30));
    let lease = lease.await.unwrap().expect("the released row is free");
    assert_eq!((lease.token, lease.taken_from), (8, None), "the old row's token carries on");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
    let pool = any_pool(&url).await;
    sqlx::query(&format!("CREATE TABLE {LEASES_TABLE} (holder TEXT)"))
        .execute(&pool)
        .await
        .unwrap();
    let err = LeaseStore::open(pool, dialect, "signaldb").await.unwrap_err().to_string();
    assert!(err.contains("signaldb_compactor_leases") && err.contains("drop it"), "{err}");
}

#[tokio::test]
async fn the_pool_leases_use_on_postgres_bounds_every_statement() {
    let Some(url) = crate::test_support::postgres_url("statement_timeout_on_postgres") else {
        return;
    };
    let fx = crate::test_support::Fixture::on_postgres(&url).await;
    let pool = fx.catalog.pool();
    // Every connection of the pool, not only the first.
    let held: Vec<_> = futures::future::join_all((0..4).map(|_| pool.acquire())).await;
    for connection in held {
        let mut connection = connection.unwrap();
        let (timeout,): (String,) =
            sqlx::query_as("SHOW statement_timeout").fetch_one(&mut *connection).await.unwrap();
        assert_eq!(timeout, "30s");
    }
}
