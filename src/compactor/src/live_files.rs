//! The live files of a table's current snapshot, read from its manifests (never by listing or
//! opening data files), with each file's `hour` partition interpreted where the spec allows;
//! and the cache of what each manifest lists, shared with snapshot staging.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use iceberg::spec::{
    DataContentType, Manifest, ManifestContentType, ManifestFile, PrimitiveLiteral, TableMetadata,
    Transform,
};
use iceberg::table::Table;

use common::tables::HOUR_PARTITION_FIELD;

/// One live file of the current snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFile {
    /// Full location of the file.
    pub path: String,
    /// Data, position-delete or equality-delete file.
    pub content: DataContentType,
    /// Partition spec the file was written with.
    pub spec_id: i32,
    /// The `hour` partition value (hours since the epoch), when the file's spec is
    /// `hour(timestamp)` named `hour` and the value is set; `None` means "cannot interpret".
    pub hour: Option<i64>,
    /// Size in bytes.
    pub size: u64,
    /// Row count.
    pub records: u64,
}

/// Every live file (data and delete) of `table`'s current snapshot; empty without a snapshot.
pub async fn live_files(table: &Table) -> iceberg::Result<Vec<LiveFile>> {
    live_files_cached(table, &ManifestCache::new()).await
}

/// [`live_files`], reading only the manifests `cache` does not hold yet.
///
/// A manifest is immutable once written, so after a lost commit the next attempt reads only
/// the manifests another writer added: against a writer appending every few tens of
/// milliseconds, that is what lets an attempt finish before the next append.
pub async fn live_files_cached(
    table: &Table,
    cache: &ManifestCache,
) -> iceberg::Result<Vec<LiveFile>> {
    live_files_listed(table, &manifest_list(table).await?, cache).await
}

/// [`live_files_cached`] of the manifests `listed` (the current snapshot's manifest list, as
/// [`manifest_list`] read it).
pub async fn live_files_listed(
    table: &Table,
    listed: &[ManifestFile],
    cache: &ManifestCache,
) -> iceberg::Result<Vec<LiveFile>> {
    let mut out = Vec::new();
    // A manifest the list records without added or existing files (a snapshot's manifest of
    // removed entries) has no live entry: it is not read, as readers skip it too.
    for manifest_file in listed.iter().filter(|m| m.has_added_files() || m.has_existing_files()) {
        out.extend(cache.read(table, manifest_file).await?.live.iter().cloned());
    }
    Ok(out)
}

/// The manifests `table`'s current snapshot lists; empty without a snapshot.
pub async fn manifest_list(table: &Table) -> iceberg::Result<Vec<ManifestFile>> {
    let Some(snapshot) = table.metadata().current_snapshot() else {
        return Ok(Vec::new());
    };
    let list = table.manifest_list_reader(snapshot).load().await?;
    Ok(list.consume_entries().into_iter().collect())
}

/// The live entries of every manifest read so far, by manifest path, for the readers of one
/// table: live-file reads and snapshot staging share it.
///
/// A manifest file is immutable once written (a new snapshot writes new manifests, never
/// edits old ones), so what it lists can be remembered by its path: after a conflict the
/// next attempt reads only the manifests other writers added, and the groups of one
/// compaction pass read each manifest once.
#[derive(Debug, Default)]
pub struct ManifestCache {
    live: Mutex<HashMap<String, Arc<[LiveFile]>>>,
}

/// One manifest's live entries, as [`ManifestCache::read`] found them.
#[derive(Debug)]
pub struct ManifestEntries {
    /// The manifest's live (ADDED or EXISTING) entries.
    pub live: Arc<[LiveFile]>,
    /// The manifest itself when it was read by this call, `None` when cached.
    pub loaded: Option<Manifest>,
}

impl ManifestCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The live entries of `manifest_file` of `table`, read from storage (and remembered)
    /// only when no earlier call read them.
    pub async fn read(
        &self,
        table: &Table,
        manifest_file: &ManifestFile,
    ) -> iceberg::Result<ManifestEntries> {
        if let Some(live) = self.lock().get(&manifest_file.manifest_path).cloned() {
            return Ok(ManifestEntries { live, loaded: None });
        }
        let manifest = manifest_file.load_manifest(table.file_io()).await?;
        let live = live_entries(table.metadata(), manifest_file, &manifest);
        self.lock().insert(manifest_file.manifest_path.clone(), Arc::clone(&live));
        Ok(ManifestEntries { live, loaded: Some(manifest) })
    }

    /// How many manifests are remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no manifest is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[LiveFile]>>> {
        // Single inserts cannot leave the map inconsistent, so a poisoned lock is still usable.
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The live entries of `manifest` (listed as `manifest_file` in a snapshot of `md`).
fn live_entries(
    md: &TableMetadata,
    manifest_file: &ManifestFile,
    manifest: &Manifest,
) -> Arc<[LiveFile]> {
    let hour_spec = is_hour_spec(md, manifest_file.partition_spec_id);
    manifest
        .entries()
        .iter()
        .filter(|e| e.is_alive())
        .map(|entry| {
            let file = entry.data_file();
            LiveFile {
                path: file.file_path().to_string(),
                content: match manifest_file.content {
                    ManifestContentType::Data => DataContentType::Data,
                    ManifestContentType::Deletes => file.content_type(),
                },
                spec_id: manifest_file.partition_spec_id,
                hour: if hour_spec { hour_value(file.partition()) } else { None },
                size: file.file_size_in_bytes(),
                records: file.record_count(),
            }
        })
        .collect()
}

/// Whether spec `spec_id` of `md` is exactly `hour(timestamp)` named `hour`.
pub fn is_hour_spec(md: &TableMetadata, spec_id: i32) -> bool {
    let Some(spec) = md.partition_spec_by_id(spec_id) else {
        return false;
    };
    let timestamp_id =
        md.current_schema().field_by_name(common::tables::TIMESTAMP_COLUMN).map(|f| f.id);
    match spec.fields() {
        [field] => {
            field.name == HOUR_PARTITION_FIELD
                && field.transform == Transform::Hour
                && Some(field.source_id) == timestamp_id
        }
        _ => false,
    }
}

/// The first field of `partition` when it is an integer: the `hour` of an hour-partitioned file.
pub fn hour_value(partition: &iceberg::spec::Struct) -> Option<i64> {
    match partition.fields().first()?.as_ref()?.as_primitive_literal()? {
        PrimitiveLiteral::Int(h) => Some(i64::from(h)),
        PrimitiveLiteral::Long(h) => Some(h),
        _ => None,
    }
}
