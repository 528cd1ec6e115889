//! A commit made under a lease swaps only while the lease is still held with its token: an
//! instance whose lease was taken over commits nothing and leaves none of its staged files.

use std::time::Duration;

use super::removal::oldest_first;
use super::{HOURS, ROWS, exists};
use crate::job::JobKind;
use crate::snapshot::{CommitError, RemoveSnapshots, commit, stage_removal};
use crate::state::StateStore;
use crate::test_support::Fixture;

#[tokio::test]
async fn a_commit_whose_lease_was_taken_over_is_fenced_and_cleaned_up_on_sqlite() {
    fenced_commit(Fixture::new().await).await;
}

#[tokio::test]
async fn a_commit_whose_lease_was_taken_over_is_fenced_and_cleaned_up_on_postgres() {
    let Some(url) = crate::test_support::postgres_url("fenced_commit_on_postgres") else {
        return;
    };
    fenced_commit(Fixture::on_postgres(&url).await).await;
}

/// Stages a change under a lease that is then taken over: the commit is fenced, its file
/// removed and the table unchanged, while the new holder's commit goes through.
async fn fenced_commit(fx: Fixture) {
    fx.fill(&HOURS, 2, ROWS).await;
    let leases = StateStore::open(&fx.catalog).await.unwrap().leases();
    // The fence checks expiry by the database's clock: the paused holder's lease is short.
    let ttl = Duration::from_secs(30);
    let job = JobKind::Retention;
    let short = Duration::from_millis(100);
    let paused = leases.acquire(&fx.id, job, "paused", short).await.unwrap().unwrap();

    // Staged while the lease was held; the lease expires and another instance takes it.
    let before = fx.load().await;
    let change = RemoveSnapshots { snapshot_ids: vec![oldest_first(&before)[0]] };
    let staged = stage_removal(&before, &change).await.unwrap();
    let written = staged.written.clone();
    tokio::time::sleep(2 * short).await;
    let taker = leases.acquire(&fx.id, job, "taker", ttl).await.unwrap().unwrap();

    let err = commit(&fx.catalog, &fx.id, Some(&paused.fence()), staged).await.unwrap_err();
    assert!(matches!(err, CommitError::Fenced { token: 1, .. }), "{err}");
    assert_eq!(err.kind(), "fenced");
    assert!(err.to_string().contains("expired or was taken over by another instance"), "{err}");
    assert!(!exists(&before, &written[0]).await, "the fenced attempt's file is left behind");
    assert_eq!(fx.load().await.metadata_location(), before.metadata_location(), "unchanged");

    // The new holder commits the same change; a stale table is still a conflict, not a fence.
    let staged = stage_removal(&before, &change).await.unwrap();
    commit(&fx.catalog, &fx.id, Some(&taker.fence()), staged).await.unwrap();
    let staged = stage_removal(&before, &change).await.unwrap();
    let err = commit(&fx.catalog, &fx.id, Some(&taker.fence()), staged).await.unwrap_err();
    assert!(matches!(err, CommitError::Conflict { .. }), "{err}");
}
