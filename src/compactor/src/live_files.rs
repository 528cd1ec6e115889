//! The live files of a table's current snapshot, read from its manifests (never by listing or
//! opening data files), with each file's time partition interpreted by its own spec's time
//! field ([`crate::time_partition`]);
//! and the cache of what each manifest lists, shared with snapshot staging.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::catalog::SignalCatalog;
use common::partition::TimePartition;
use futures::{StreamExt, TryStreamExt, stream};
use iceberg::TableIdent;
use iceberg::spec::{
    DataContentType, DataFile, Datum, Manifest, ManifestContentType, ManifestFile,
    PrimitiveLiteral, Struct, TableMetadata,
};
use iceberg::table::Table;

use crate::time_partition::time_field;

/// One live file of the current snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFile {
    /// Full location of the file.
    pub path: String,
    /// Data, position-delete or equality-delete file.
    pub content: DataContentType,
    /// Partition spec the file was written with.
    pub spec_id: i32,
    /// The file's time partition, when its spec has a time field this code understands and
    /// the value is set; `None` means "cannot interpret".
    pub partition: Option<TimePartition>,
    /// Size in bytes.
    pub size: u64,
    /// Row count.
    pub records: u64,
    /// Row groups, when the manifest lists the file's split offsets (one per row group).
    pub row_groups: Option<usize>,
    /// The sort order the file's rows are in, when its writer recorded one.
    pub sort_order_id: Option<i32>,
    /// The file's data sequence number (a delete file applies to data files by it); `None`
    /// when the manifest does not give one (a v1 table).
    pub sequence_number: Option<i64>,
    /// The file's whole partition tuple in its spec (empty when unpartitioned): delete files
    /// apply to the data files of the same spec and tuple.
    pub partition_value: Struct,
    /// For a position delete file that deletes rows of one data file only: that file's
    /// location (its `referenced_data_file`, or equal bounds of its `file_path` column).
    pub referenced_data_file: Option<String>,
    /// For an equality delete file: the field ids its rows are matched on.
    pub equality_ids: Option<Vec<i32>>,
}

impl LiveFile {
    /// The first hour (since the epoch) of the file's time partition.
    pub fn hour(&self) -> Option<i64> {
        self.partition.map(TimePartition::start_hour)
    }
}

/// Every live file (data and delete) of `table`'s current snapshot; empty without a snapshot.
pub(crate) async fn live_files(table: &Table) -> iceberg::Result<Vec<LiveFile>> {
    live_files_cached(table, &ManifestCache::new()).await
}

/// [`live_files`], reading only the manifests `cache` does not hold yet.
///
/// A manifest is immutable once written, so after a lost commit the next attempt reads only
/// the manifests another writer added: against a writer appending every few tens of
/// milliseconds, that is what lets an attempt finish before the next append.
pub(crate) async fn live_files_cached(
    table: &Table,
    cache: &ManifestCache,
) -> iceberg::Result<Vec<LiveFile>> {
    live_files_listed(table, &cache.list(table).await?, cache).await
}

/// [`live_files_cached`] of the manifests `listed` (the current snapshot's manifest list, as
/// [`manifest_list`] read it).
pub(crate) async fn live_files_listed(
    table: &Table,
    listed: &[ManifestFile],
    cache: &ManifestCache,
) -> iceberg::Result<Vec<LiveFile>> {
    // A manifest the list records without added or existing files (a snapshot's manifest of
    // removed entries) has no live entry: it is not read, as readers skip it too. The others
    // are read several at once, in the list's order: one at a time, a table's plan would wait
    // for as many round trips to the object store as it has manifests.
    // (The reads are made in a loop, not by a closure the stream holds: async traits need the
    // stream's type free of closures over borrowed lifetimes.)
    let mut reads = Vec::new();
    for manifest_file in listed.iter().filter(|m| m.has_added_files() || m.has_existing_files()) {
        reads.push(async move { cache.read(table, manifest_file).await.map(|e| e.live) });
    }
    let live: Vec<Arc<[LiveFile]>> =
        stream::iter(reads).buffered(MANIFEST_READS).try_collect().await?;
    Ok(live.iter().flat_map(|l| l.iter().cloned()).collect())
}

/// Manifest entries one table run keeps whole in memory (about 1 KiB each), so that its
/// commits and manifest merges do not decode again the manifests its plan read.
pub(crate) const RUN_MANIFEST_ENTRIES: usize = 10_000;

/// Manifests of one table read at the same time (the store's own request limit bounds the
/// requests of all tables together).
pub(crate) const MANIFEST_READS: usize = 16;

/// The manifests `table`'s current snapshot lists; empty without a snapshot.
pub(crate) async fn manifest_list(table: &Table) -> iceberg::Result<Vec<ManifestFile>> {
    let Some(snapshot) = table.metadata().current_snapshot() else {
        return Ok(Vec::new());
    };
    let list = table.manifest_list_reader(snapshot).load().await?;
    Ok(list.consume_entries().into_iter().collect())
}

/// What is known of one table's immutable files, for the readers of one table run: the live
/// entries of every manifest read so far (by manifest path), manifest lists, whole manifests
/// within a budget, and the table as loaded from each metadata file. Live-file reads, snapshot
/// staging, commits and the state read after a run share it.
///
/// A manifest file is immutable once written (a new snapshot writes new manifests, never
/// edits old ones), so what it lists can be remembered by its path: after a conflict the
/// next attempt reads only the manifests other writers added, and the groups of one
/// compaction pass read each manifest once. A cache made [`ManifestCache::with_manifests`]
/// also keeps whole manifests, up to a budget of entries, so that a pass's commits and
/// manifest merges do not decode again what its plan read.
#[derive(Debug, Default)]
pub struct ManifestCache {
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    /// Live entries, by manifest path.
    live: HashMap<String, Arc<[LiveFile]>>,
    /// Whole manifests kept, by manifest path.
    manifests: HashMap<String, Manifest>,
    /// The manifests of each manifest list read, by the list's path.
    lists: HashMap<String, Arc<[ManifestFile]>>,
    /// The table as its metadata file describes it, by the file's location.
    tables: HashMap<String, Table>,
    /// Entries that may still be kept in `manifests`.
    budget: usize,
}

/// One manifest's live entries, as [`ManifestCache::read`] found them.
#[derive(Debug)]
pub struct ManifestEntries {
    /// The manifest's live (ADDED or EXISTING) entries.
    pub live: Arc<[LiveFile]>,
    /// The whole manifest, when this call read it or the cache kept it; `None` otherwise.
    pub loaded: Option<Manifest>,
}

impl ManifestCache {
    /// An empty cache keeping only live entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache that also keeps whole manifests, up to `budget_entries` entries in all
    /// (about 1 KiB of memory each).
    pub fn with_manifests(budget_entries: usize) -> Self {
        let inner = CacheInner { budget: budget_entries, ..CacheInner::default() };
        Self { inner: Mutex::new(inner) }
    }

    /// The live entries of `manifest_file` of `table`, read from storage (and remembered)
    /// only when no earlier call read them.
    pub async fn read(
        &self,
        table: &Table,
        manifest_file: &ManifestFile,
    ) -> iceberg::Result<ManifestEntries> {
        let path = &manifest_file.manifest_path;
        let cached = {
            let inner = self.lock();
            inner.live.get(path).map(|live| (Arc::clone(live), inner.manifests.get(path).cloned()))
        };
        if let Some((live, loaded)) = cached {
            return Ok(ManifestEntries { live, loaded });
        }
        let manifest = manifest_file.load_manifest(table.file_io()).await?;
        let live = live_entries(table.metadata(), manifest_file, &manifest);
        self.remember(path, Arc::clone(&live), &manifest);
        Ok(ManifestEntries { live, loaded: Some(manifest) })
    }

    /// The manifests `table`'s current snapshot lists (empty without a snapshot), read from
    /// storage only when no earlier call read the same list: a manifest list is immutable
    /// too, and a pass's plan, scan and commits of one snapshot all need it.
    pub async fn list(&self, table: &Table) -> iceberg::Result<Arc<[ManifestFile]>> {
        let Some(snapshot) = table.metadata().current_snapshot() else {
            return Ok(Arc::from(Vec::new()));
        };
        let path = snapshot.manifest_list();
        if let Some(list) = self.lock().lists.get(path) {
            return Ok(Arc::clone(list));
        }
        let list: Arc<[ManifestFile]> = manifest_list(table).await?.into();
        self.lock().lists.insert(path.to_string(), Arc::clone(&list));
        Ok(list)
    }

    /// The whole manifest `manifest_file` of `table`: kept by the cache, or read from storage.
    pub async fn manifest(
        &self,
        table: &Table,
        manifest_file: &ManifestFile,
    ) -> iceberg::Result<Manifest> {
        let kept = self.lock().manifests.get(&manifest_file.manifest_path).cloned();
        if let Some(manifest) = kept {
            return Ok(manifest);
        }
        let manifest = manifest_file.load_manifest(table.file_io()).await?;
        let live = live_entries(table.metadata(), manifest_file, &manifest);
        self.remember(&manifest_file.manifest_path, live, &manifest);
        Ok(manifest)
    }

    /// The table `ident` as the catalog points at it now. The pointer is always asked of the
    /// catalog (one query of its database); the metadata file it names is read only when no
    /// table of this cache was loaded from, or committed as, that file: a metadata file never
    /// changes once written, so a run's commits and the state read after it need not read
    /// again what the run loaded or wrote.
    pub async fn current(
        &self,
        catalog: &SignalCatalog,
        ident: &TableIdent,
    ) -> iceberg::Result<Table> {
        let location = catalog.metadata_location(ident).await.map_err(|e| {
            iceberg::Error::new(iceberg::ErrorKind::Unexpected, "read the metadata location")
                .with_context("catalog database", catalog.name())
                .with_source(e)
        })?;
        if let Some(table) = location.and_then(|l| self.lock().tables.get(&l).cloned()) {
            return Ok(table);
        }
        let table = catalog.load_table(ident).await?;
        self.remember_table(&table);
        Ok(table)
    }

    /// Remembers `table` as the table its metadata file describes (a table without a metadata
    /// location is not remembered).
    pub fn remember_table(&self, table: &Table) {
        if let Some(location) = table.metadata_location() {
            self.lock().tables.insert(location.to_string(), table.clone());
        }
    }

    /// How many manifests are remembered.
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether no manifest is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remember(&self, path: &str, live: Arc<[LiveFile]>, manifest: &Manifest) {
        let mut inner = self.lock();
        let entries = manifest.entries().len();
        if entries <= inner.budget && !inner.manifests.contains_key(path) {
            inner.budget -= entries;
            inner.manifests.insert(path.to_string(), manifest.clone());
        }
        inner.live.insert(path.to_string(), live);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // Single inserts cannot leave the maps inconsistent, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The live entries of `manifest` (listed as `manifest_file` in a snapshot of `md`).
fn live_entries(
    md: &TableMetadata,
    manifest_file: &ManifestFile,
    manifest: &Manifest,
) -> Arc<[LiveFile]> {
    let grain = time_field(md, manifest_file.partition_spec_id).ok().map(|f| f.grain);
    manifest
        .entries()
        .iter()
        .filter(|e| e.is_alive())
        .map(|entry| {
            let file = entry.data_file();
            let content = match manifest_file.content {
                ManifestContentType::Data => DataContentType::Data,
                ManifestContentType::Deletes => file.content_type(),
            };
            LiveFile {
                path: file.file_path().to_string(),
                content,
                spec_id: manifest_file.partition_spec_id,
                partition: grain.and_then(|grain| {
                    Some(TimePartition { grain, value: time_value(file.partition())? })
                }),
                size: file.file_size_in_bytes(),
                records: file.record_count(),
                row_groups: file.split_offsets().map(<[i64]>::len).filter(|&n| n > 0),
                sort_order_id: file.sort_order_id(),
                sequence_number: entry.sequence_number(),
                partition_value: file.partition().clone(),
                referenced_data_file: match content {
                    DataContentType::PositionDeletes => referenced_data_file(file),
                    _ => None,
                },
                equality_ids: match content {
                    DataContentType::EqualityDeletes => file.equality_ids(),
                    _ => None,
                },
            }
        })
        .collect()
}

/// Field id of the `file_path` column of a position delete file (the Iceberg spec's
/// reserved id).
const POSITION_DELETE_FILE_PATH_ID: i32 = 2147483546;

/// The one data file the position delete file `file` applies to, when it says so: its
/// `referenced_data_file`, else equal lower and upper bounds of its `file_path` column (how
/// Java marks a file-scoped delete in v2).
fn referenced_data_file(file: &DataFile) -> Option<String> {
    if let Some(path) = file.referenced_data_file() {
        return Some(path);
    }
    let bound = |bounds: &std::collections::HashMap<i32, Datum>| match bounds
        .get(&POSITION_DELETE_FILE_PATH_ID)?
        .literal()
    {
        PrimitiveLiteral::String(s) => Some(s.clone()),
        _ => None,
    };
    let lower = bound(file.lower_bounds())?;
    (Some(&lower) == bound(file.upper_bounds()).as_ref()).then_some(lower)
}

/// The first field of `partition` when it is an integer: the hours or days since the epoch of
/// a file partitioned by time alone (a `date` value is an integer too).
pub(crate) fn time_value(partition: &iceberg::spec::Struct) -> Option<i64> {
    match partition.fields().first()?.as_ref()?.as_primitive_literal()? {
        PrimitiveLiteral::Int(h) => Some(i64::from(h)),
        PrimitiveLiteral::Long(h) => Some(h),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Fixture;

    #[tokio::test]
    async fn whole_manifests_are_kept_within_the_budget_only() {
        let fx = Fixture::new().await;
        fx.fill(&[crate::test_support::BASE_HOUR], 3, 10).await;
        let table = fx.load().await;
        let list = manifest_list(&table).await.unwrap();
        assert_eq!(list.len(), 3, "one manifest per append");

        // A budget of two entries keeps two one-entry manifests whole, not the third.
        let cache = ManifestCache::with_manifests(2);
        for m in &list {
            assert!(cache.read(&table, m).await.unwrap().loaded.is_some(), "read now");
        }
        let again: Vec<bool> =
            futures::future::join_all(list.iter().map(|m| cache.read(&table, m)))
                .await
                .into_iter()
                .map(|r| r.unwrap().loaded.is_some())
                .collect();
        assert_eq!(again, [true, true, false]);
        let third = cache.manifest(&table, &list[2]).await.unwrap();
        assert_eq!(third.entries().len(), 1, "a manifest not kept is read again");

        // A cache without a budget keeps only live entries.
        let plain = ManifestCache::new();
        plain.read(&table, &list[0]).await.unwrap();
        assert!(plain.read(&table, &list[0]).await.unwrap().loaded.is_none());
        assert_eq!(plain.len(), 1);
    }
}
