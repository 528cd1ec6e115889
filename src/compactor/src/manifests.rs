//! The live files of a table's current snapshot, read from its manifests (never by listing or
//! opening data files), with each file's `hour` partition interpreted where the spec allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use iceberg::spec::{
    DataContentType, ManifestContentType, PrimitiveLiteral, TableMetadata, Transform,
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
    read_live_files(table, |_| true, None).await
}

/// The live delete files of `table`'s current snapshot; only delete manifests are read, so
/// this stays cheap on tables with many data manifests.
pub async fn live_delete_files(table: &Table) -> iceberg::Result<Vec<LiveFile>> {
    read_live_files(table, |content| *content == ManifestContentType::Deletes, None).await
}

/// [`live_files`], reading only the manifests `cache` does not hold yet.
///
/// A manifest is immutable once written, so after a lost commit the next attempt reads only
/// the manifests another writer added: against a writer appending every few tens of
/// milliseconds, that is what lets an attempt finish before the next append.
pub async fn live_files_cached(
    table: &Table,
    cache: &LiveFileCache,
) -> iceberg::Result<Vec<LiveFile>> {
    read_live_files(table, |_| true, Some(cache)).await
}

/// Live files per manifest path, for [`live_files_cached`].
#[derive(Debug, Default)]
pub struct LiveFileCache {
    by_manifest: Mutex<HashMap<String, Arc<[LiveFile]>>>,
}

impl LiveFileCache {
    fn get(&self, manifest: &str) -> Option<Arc<[LiveFile]>> {
        self.lock().get(manifest).cloned()
    }

    fn insert(&self, manifest: &str, files: Arc<[LiveFile]>) {
        self.lock().insert(manifest.to_string(), files);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[LiveFile]>>> {
        // Single inserts cannot leave the map inconsistent, so a poisoned lock is still usable.
        self.by_manifest.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn read_live_files(
    table: &Table,
    wanted: impl Fn(&ManifestContentType) -> bool,
    cache: Option<&LiveFileCache>,
) -> iceberg::Result<Vec<LiveFile>> {
    let md = table.metadata();
    let Some(snapshot) = md.current_snapshot() else {
        return Ok(Vec::new());
    };
    let list = table.manifest_list_reader(snapshot).load().await?;
    let mut out = Vec::new();
    for manifest_file in list.entries().iter().filter(|m| wanted(&m.content)) {
        if let Some(files) = cache.and_then(|c| c.get(&manifest_file.manifest_path)) {
            out.extend(files.iter().cloned());
            continue;
        }
        let hour_spec = is_hour_spec(md, manifest_file.partition_spec_id);
        let manifest = manifest_file.load_manifest(table.file_io()).await?;
        let files: Arc<[LiveFile]> = manifest
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
            .collect();
        if let Some(cache) = cache {
            cache.insert(&manifest_file.manifest_path, Arc::clone(&files));
        }
        out.extend(files.iter().cloned());
    }
    Ok(out)
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

fn hour_value(partition: &iceberg::spec::Struct) -> Option<i64> {
    match partition.fields().first()?.as_ref()?.as_primitive_literal()? {
        PrimitiveLiteral::Int(h) => Some(i64::from(h)),
        PrimitiveLiteral::Long(h) => Some(h),
        _ => None,
    }
}
