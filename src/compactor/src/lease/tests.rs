use common::Signal;
use common::config::CatalogBackend;

use super::*;
use crate::test_support::any_pool;

/// Acquisition, exclusion, renewal, takeover after expiry with a larger token, release, and
/// isolation between catalogs and jobs, under catalog `catalog` of `pool`.
async fn leases_exclude_and_fence(pool: AnyPool, backend: CatalogBackend, catalog: &str) {
    let dialect = SqlDialect::new(backend);
    let store = LeaseStore::open(pool.clone(), dialect, catalog).await.unwrap();
    let other = LeaseStore::open(pool, dialect, &format!("{catalog}-other")).await.unwrap();
    let logs = TableId::new("acme", "prod", Signal::Logs).unwrap();
    let t0 = "2026-01-15T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
    let ttl = Duration::seconds(30);
    let job = JobKind::Compaction;

    let mut a = store.acquire(&logs, job, "a", t0, ttl).await.unwrap().expect("free");
    assert_eq!((a.token, a.expires_at), (1, t0 + ttl));
    assert_eq!(store.acquire(&logs, job, "b", t0, ttl).await.unwrap(), None, "held by a");
    // Another job, another catalog: separate leases.
    assert!(store.acquire(&logs, JobKind::Retention, "b", t0, ttl).await.unwrap().is_some());
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
    assert!(!store.renew(&mut a, t2, ttl).await.unwrap(), "a lost it");
    store.release(&a).await.unwrap();
    assert_eq!(store.acquire(&logs, job, "c", t2, ttl).await.unwrap(), None, "still b's");

    // Released, it is free at once, and the next token is larger still.
    store.release(&b).await.unwrap();
    let c = store.acquire(&logs, job, "c", t2, ttl).await.unwrap().expect("released");
    assert!(c.token > b.token);
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

#[tokio::test]
async fn only_one_of_many_racing_instances_acquires() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
    let store =
        LeaseStore::open(any_pool(&url).await, SqlDialect::new(CatalogBackend::Sqlite), "signaldb")
            .await
            .unwrap();
    let logs = TableId::new("acme", "prod", Signal::Logs).unwrap();
    let now = Utc::now();
    let attempts = (0..8).map(|i| {
        let (store, logs) = (store.clone(), logs.clone());
        tokio::spawn(async move {
            let owner = format!("instance-{i}");
            store.acquire(&logs, JobKind::Compaction, &owner, now, Duration::seconds(30)).await
        })
    });
    let won = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().as_ref().unwrap().is_some())
        .count();
    assert_eq!(won, 1);
}
