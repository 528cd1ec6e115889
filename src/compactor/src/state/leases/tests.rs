use common::TableKind;
use common::catalog::SqlDialect;
use common::config::CatalogBackend;
use sqlx::AnyPool;

use super::*;
use crate::state::StateStore;
use crate::test_support::any_pool;

/// The leases of catalog `catalog` on `pool`.
async fn leases(pool: AnyPool, backend: CatalogBackend, catalog: &str) -> Leases {
    let store = StateStore::open_pool(pool, SqlDialect::new(backend), catalog).await.unwrap();
    store.leases()
}

/// Asserts that `at` is `ttl` after a moment between `before` and now (by this process's clock,
/// which the database's agrees with here, within a second).
fn expires_after(at: DateTime<Utc>, before: DateTime<Utc>, ttl: Duration) {
    let slack = chrono::Duration::seconds(1);
    let ttl = chrono::Duration::from_std(ttl).unwrap();
    assert!(at >= before + ttl - slack && at <= Utc::now() + ttl + slack, "{at} {before}");
}

/// Acquisition, exclusion, renewal, takeover after expiry with a larger token, release, and
/// isolation between catalogs and jobs, under catalog `catalog` of `pool`. Expiry is the
/// database's: the lease is left to run out in real time.
async fn leases_exclude_and_fence(pool: AnyPool, backend: CatalogBackend, catalog: &str) {
    let store = leases(pool.clone(), backend, catalog).await;
    let other = leases(pool, backend, &format!("{catalog}-other")).await;
    let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let ttl = Duration::from_millis(1500);
    let long = Duration::from_secs(30);
    let job = JobKind::Compaction;

    let before = Utc::now();
    let mut a = store.acquire(&logs, job, "a", ttl).await.unwrap().expect("free");
    assert_eq!(a.token, 1);
    expires_after(a.expires_at, before, ttl);
    assert_eq!(a.taken_from, None, "it was free");
    assert_eq!(store.acquire(&logs, job, "b", long).await.unwrap(), None, "held by a");
    // One job per table at a time, whoever asks; another table or catalog is separate.
    for owner in ["a", "b"] {
        let retention = store.acquire(&logs, JobKind::Retention, owner, long).await.unwrap();
        assert_eq!(retention, None, "{owner} must not run retention while a compacts");
    }
    let traces = TableId::new("acme", "prod", TableKind::Traces).unwrap();
    assert!(store.acquire(&traces, JobKind::Retention, "b", long).await.unwrap().is_some());
    assert!(other.acquire(&logs, job, "b", long).await.unwrap().is_some());

    // Renewed, the lease outlives its first expiry.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = Utc::now();
    assert!(store.renew(&mut a, ttl).await.unwrap());
    expires_after(a.expires_at, before, ttl);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(store.acquire(&logs, job, "b", long).await.unwrap(), None);
    let held = store.holders().await.unwrap();
    assert_eq!(held.len(), 2, "{held:?}");
    assert_eq!(
        (held[0].job.as_str(), held[0].owner.as_str(), held[0].token),
        ("compaction", "a", 1)
    );

    // Expired, it is taken over with a larger token; the old holder can neither renew nor
    // release the new holder's lease.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let b = store.acquire(&logs, job, "b", long).await.unwrap().expect("expired");
    assert!(b.token > a.token, "{} > {}", b.token, a.token);
    assert_eq!(b.taken_from.as_deref(), Some("a"), "a's lease expired unreleased");
    let held = store.holder_of(&logs).await.unwrap().expect("b holds it");
    assert_eq!((held.owner.as_str(), held.taken_from.as_deref()), ("b", Some("a")));
    assert!(!store.renew(&mut a, long).await.unwrap(), "a lost it");
    store.release(&a).await.unwrap();
    assert_eq!(store.acquire(&logs, job, "c", long).await.unwrap(), None, "still b's");

    // Released, it is free at once, and the next token is larger still.
    store.release(&b).await.unwrap();
    let c = store.acquire(&logs, job, "c", long).await.unwrap().expect("released");
    assert!(c.token > b.token);
    assert_eq!(c.taken_from, None, "b released it");
    // Released, another job may take the table.
    store.release(&c).await.unwrap();
    let r = store.acquire(&logs, JobKind::Retention, "c", long).await.unwrap();
    assert!(r.is_some(), "no other job holds the table");
    store.release(&r.unwrap()).await.unwrap();
    let c = store.acquire(&logs, job, "c", long).await.unwrap().expect("free again");
    // The holder acquiring again keeps it (and gets a new token).
    let c2 = store.acquire(&logs, job, "c", long).await.unwrap().expect("own");
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

/// A lease lives exactly as long as the database's clock says: a long one cannot be taken by
/// another owner, a short one can once it ran out; no caller's clock is asked.
async fn the_database_clock_decides_expiry(store: Leases) {
    let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let traces = TableId::new("acme", "prod", TableKind::Traces).unwrap();
    let job = JobKind::Compaction;
    let long = store.acquire(&logs, job, "a", Duration::from_secs(3600)).await.unwrap();
    let short = store.acquire(&traces, job, "a", Duration::from_millis(200)).await.unwrap();
    assert!(long.is_some() && short.is_some());
    assert_eq!(store.acquire(&traces, job, "b", Duration::from_secs(60)).await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.acquire(&logs, job, "b", Duration::from_secs(60)).await.unwrap(), None);
    let taken = store.acquire(&traces, job, "b", Duration::from_secs(60)).await.unwrap();
    assert_eq!(taken.expect("expired").taken_from.as_deref(), Some("a"));
    let held = store.holders().await.unwrap();
    let owners: Vec<_> = held.iter().map(|h| (h.table.as_str(), h.owner.as_str())).collect();
    assert_eq!(owners, [("logs", "a"), ("traces", "b")]);
    // The expired lease's fence names it; the swap checks it against the database's clock.
    let fence = short.unwrap().fence();
    assert_eq!((fence.job, fence.owner.as_str(), fence.token), (job, "a", 1));
}

#[tokio::test]
async fn the_database_clock_decides_expiry_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
    the_database_clock_decides_expiry(
        leases(any_pool(&url).await, CatalogBackend::Sqlite, "s").await,
    )
    .await;
}

#[tokio::test]
async fn the_database_clock_decides_expiry_on_postgres() {
    let Some(url) = crate::test_support::postgres_url("database_clock_on_postgres") else {
        return;
    };
    let catalog = format!("test-{}", uuid::Uuid::new_v4().simple());
    let store = leases(any_pool(&url).await, CatalogBackend::Postgres, &catalog).await;
    the_database_clock_decides_expiry(store).await;
}

#[tokio::test]
async fn lease_times_are_the_database_clock_in_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
    let pool = any_pool(&url).await;
    let mut backends = vec![(pool, CatalogBackend::Sqlite)];
    if let Some(url) = crate::test_support::postgres_url("database_clock_ms_on_postgres") {
        backends.push((any_pool(&url).await, CatalogBackend::Postgres));
    }
    for (pool, backend) in backends {
        let sql = format!("SELECT {} AS now_ms", crate::state::db::now_ms(backend));
        let before = Utc::now().timestamp_millis();
        let row = sqlx::query(&sql).fetch_one(&pool).await.unwrap();
        let now: i64 = row.try_get("now_ms").unwrap();
        let after = Utc::now().timestamp_millis();
        assert!(now >= before - 1000 && now <= after + 1000, "{backend:?}: {before} {now} {after}");
    }
}

/// Eight instances race for one table, each asking for one of the three jobs: exactly one
/// wins, whatever job it asked for.
async fn only_one_of_many_racing_instances_acquires(store: Leases) {
    let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let attempts = (0..8).map(|i| {
        let (store, logs) = (store.clone(), logs.clone());
        tokio::spawn(async move {
            let owner = format!("instance-{i}");
            let job = JobKind::ALL[i % JobKind::ALL.len()];
            store.acquire(&logs, job, &owner, Duration::from_secs(30)).await
        })
    });
    let won = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().as_ref().unwrap().is_some())
        .count();
    assert_eq!(won, 1);
    assert_eq!(store.holders().await.unwrap().len(), 1);
}

#[tokio::test]
async fn only_one_of_many_racing_instances_acquires_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
    let store = leases(any_pool(&url).await, CatalogBackend::Sqlite, "signaldb").await;
    only_one_of_many_racing_instances_acquires(store).await;
}

#[tokio::test]
async fn only_one_of_many_racing_instances_acquires_on_postgres() {
    let Some(url) = crate::test_support::postgres_url("racing_instances_on_postgres") else {
        return;
    };
    let catalog = format!("test-{}", uuid::Uuid::new_v4().simple());
    let store = leases(any_pool(&url).await, CatalogBackend::Postgres, &catalog).await;
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
    let store = StateStore::open_pool(pool, dialect, "signaldb").await.unwrap().leases();
    let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let lease = store.acquire(&logs, JobKind::Compaction, "new", Duration::from_secs(30));
    let lease = lease.await.unwrap().expect("the released row is free");
    assert_eq!((lease.token, lease.taken_from), (8, None), "the old row's token carries on");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
    let pool = any_pool(&url).await;
    sqlx::query(&format!("CREATE TABLE {LEASES_TABLE} (holder TEXT)"))
        .execute(&pool)
        .await
        .unwrap();
    let err = StateStore::open_pool(pool, dialect, "signaldb").await.unwrap_err().to_string();
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
