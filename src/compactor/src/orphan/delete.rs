//! Deleting candidates in batches of `batch_size`, in object-path order.
//!
//! With revalidation, the table's metadata is reloaded just before each batch; when it moved,
//! the reference set is extended with whatever the new metadata reaches, and any candidate it
//! now reaches is kept (`Revalidation: file now referenced …`). A metadata reload that fails
//! stops the run before the batch: nothing is deleted unverified. Each deletion that fails is
//! counted and logged and the run goes on; after each batch the checkpoint records the last
//! path completed. A batch is deleted with the store's batched delete: on S3 one
//! `DeleteObjects` request per 1,000 files instead of one request per file.

use common::catalog::SignalCatalog;
use common::clock::Clock;
use common::tables::TableId;
use futures::StreamExt;
use iceberg::Catalog;
use object_store::ObjectStore;
use object_store::path::Path;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::candidates::Candidate;
use super::error::OrphanError;
use super::reference::ReferenceSet;
use crate::log_target;
use crate::state::{Checkpoint, Checkpoints};

/// How many failures the report lists by path.
const FAILURE_EXAMPLES: usize = 20;

/// What the deletion phase did in this process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Files deleted.
    pub files_deleted: u64,
    /// Deletions that failed.
    pub deletion_failures: u64,
    /// Bytes of the deleted files.
    pub bytes_freed: u64,
    /// Candidates already gone when their turn came (another run deleted them).
    pub already_gone: u64,
    /// Candidates kept because revalidation found them referenced.
    pub kept_by_revalidation: u64,
    /// Batches completed (and checkpointed).
    pub batches: u64,
    /// Whether the run stopped before its last batch (shutdown or an error).
    pub stopped_early: bool,
    /// A few failed deletions, `location: error`.
    pub failures: Vec<String>,
}

/// Everything the deletion phase works with.
pub(crate) struct Batches<'a> {
    /// The catalog, to reload the table.
    pub catalog: &'a SignalCatalog,
    /// The table.
    pub id: &'a TableId,
    /// The warehouse's object store.
    pub store: Arc<dyn ObjectStore>,
    /// Where progress is recorded.
    pub checkpoints: &'a Checkpoints,
    /// Candidates per batch (at least 1).
    pub batch_size: usize,
    /// Reload metadata and re-check candidates before each batch.
    pub revalidate: bool,
    /// Time for checkpoint rows.
    pub clock: &'a dyn Clock,
    /// Stop between batches when it fires.
    pub cancel: &'a CancellationToken,
}

impl Batches<'_> {
    /// Deletes `candidates` (sorted by path) batch by batch; `checkpoint` carries the run's
    /// identity and earlier totals and is saved after each batch. Returns what was done and
    /// the error that stopped the run early, if any.
    pub(crate) async fn run(
        &self,
        refs: &mut ReferenceSet,
        candidates: &[Candidate],
        mut checkpoint: Checkpoint,
    ) -> (Progress, Option<OrphanError>) {
        let mut progress = Progress::default();
        for batch in candidates.chunks(self.batch_size.max(1)) {
            if self.cancel.is_cancelled() {
                progress.stopped_early = true;
                info!(target: log_target::ORPHAN, table = %self.id, "Orphan cleanup stopping at a batch boundary (the pass was cancelled); the checkpoint resumes it");
                break;
            }
            if self.revalidate
                && let Err(e) = self.revalidate(refs).await
            {
                progress.stopped_early = true;
                return (progress, Some(e));
            }
            let before = progress.clone();
            let mut deletable = Vec::with_capacity(batch.len());
            for c in batch {
                if refs.contains(&c.location) {
                    info!(
                        target: log_target::ORPHAN,
                        tenant = %self.id.tenant, dataset = %self.id.dataset, table = %self.id.table,
                        "Revalidation: file now referenced, keeping {}", c.location
                    );
                    progress.kept_by_revalidation += 1;
                } else {
                    deletable.push(c);
                }
            }
            let paths: Vec<Path> = deletable.iter().map(|c| c.path.clone()).collect();
            let outcomes = delete_all(self.store.as_ref(), &paths).await;
            for (c, outcome) in deletable.into_iter().zip(outcomes) {
                match outcome {
                    Deletion::Deleted => {
                        progress.files_deleted += 1;
                        progress.bytes_freed += c.size;
                        debug!(target: log_target::ORPHAN, table = %self.id, size = c.size, "Deleted orphan file {}", c.location);
                    }
                    Deletion::Gone => progress.already_gone += 1,
                    Deletion::Failed(e) => {
                        progress.deletion_failures += 1;
                        warn!(
                            target: log_target::ORPHAN,
                            tenant = %self.id.tenant, dataset = %self.id.dataset, table = %self.id.table,
                            error = %e, "Failed to delete file {}", c.location
                        );
                        if progress.failures.len() < FAILURE_EXAMPLES {
                            progress.failures.push(format!("{}: {e}", c.location));
                        }
                    }
                }
            }
            let deleted = progress.files_deleted - before.files_deleted;
            let failed = progress.deletion_failures - before.deletion_failures;
            let freed = progress.bytes_freed - before.bytes_freed;
            progress.batches += 1;

            let last = batch.last().expect("chunks are never empty");
            checkpoint.last_path = last.path.to_string();
            checkpoint.files_deleted += deleted;
            checkpoint.deletion_failures += failed;
            checkpoint.bytes_freed += freed;
            checkpoint.updated_at = self.clock.now();
            if let Err(e) = self.checkpoints.save(&self.id.ident(), &checkpoint).await {
                progress.stopped_early = true;
                return (progress, Some(e.into()));
            }
        }
        (progress, None)
    }

    /// Reloads the table and extends `refs` if its metadata moved.
    async fn revalidate(&self, refs: &mut ReferenceSet) -> Result<(), OrphanError> {
        let table = self
            .catalog
            .catalog()
            .load_table(&self.id.ident())
            .await
            .map_err(|e| OrphanError::metadata("reload table metadata before a batch", e))?;
        let moved = refs
            .extend(&table)
            .await
            .map_err(|e| OrphanError::metadata("read the new metadata's manifests", e))?;
        if moved {
            info!(
                target: log_target::ORPHAN,
                table = %self.id,
                metadata = table.metadata_location().unwrap_or_default(),
                "Table metadata changed during cleanup; reference set extended"
            );
        }
        Ok(())
    }
}

/// What became of one file of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Deletion {
    /// The store confirmed it deleted.
    Deleted,
    /// It was already gone.
    Gone,
    /// It could not be deleted, or its deletion was not confirmed: why.
    Failed(String),
}

/// Deletes `paths` with the store's batched delete, and says for each path, in order, what
/// became of it. A path the store does not confirm deleted counts as failed (it stays in
/// storage and the next run finds it again), never as deleted.
async fn delete_all(store: &dyn ObjectStore, paths: &[Path]) -> Vec<Deletion> {
    // The store's stream outlives this call: it takes the paths by value.
    let owned: Vec<Path> = paths.to_vec();
    let input = futures::stream::iter(owned.into_iter().map(Ok)).boxed();
    let (mut deleted, mut gone, mut errors) = (HashSet::new(), Vec::new(), Vec::new());
    let mut results = store.delete_stream(input);
    while let Some(result) = results.next().await {
        match result {
            Ok(path) => {
                deleted.insert(path);
            }
            // The local store names the file by its filesystem path, `/` + the object path.
            Err(object_store::Error::NotFound { path, .. }) => gone.push(path),
            Err(e) => errors.push(e.to_string()),
        }
    }
    paths
        .iter()
        .map(|path| {
            if deleted.contains(path) {
                Deletion::Deleted
            } else if gone.iter().any(|g| g.trim_start_matches('/') == path.as_ref()) {
                Deletion::Gone
            } else {
                let why = errors.first().cloned();
                Deletion::Failed(why.unwrap_or_else(|| "the store did not confirm it".into()))
            }
        })
        .collect()
}

#[cfg(test)]
mod batch_tests {
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    #[tokio::test]
    async fn a_batch_says_what_became_of_each_file() {
        let store = InMemory::new();
        let (a, b) = (Path::from("t/data/a.parquet"), Path::from("t/data/b.parquet"));
        store.put(&a, PutPayload::from_static(b"a")).await.unwrap();
        let outcomes = delete_all(&store, &[a.clone(), b.clone()]).await;
        // The in-memory store, like S3, deletes a missing object without complaint.
        assert_eq!(outcomes, [Deletion::Deleted, Deletion::Deleted]);
        assert!(store.head(&a).await.is_err(), "a is gone");
    }

    #[tokio::test]
    async fn a_missing_local_file_is_already_gone_and_the_rest_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = object_store::local::LocalFileSystem::new();
        let root = Path::from_filesystem_path(dir.path()).unwrap();
        let (a, b) = (root.clone().join("a.parquet"), root.clone().join("b.parquet"));
        store.put(&a, PutPayload::from_static(b"a")).await.unwrap();
        let outcomes = delete_all(&store, &[a.clone(), b.clone()]).await;
        assert_eq!(outcomes, [Deletion::Deleted, Deletion::Gone]);
        assert!(store.head(&a).await.is_err(), "a is gone");
    }
}
