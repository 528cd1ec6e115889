//! The scan tasks of a compaction's input files.
//!
//! When the table's current snapshot has no delete files, a file's task is only its manifest
//! entry, so tasks are built from the manifests the pass already read (kept in its
//! [`ManifestCache`]) instead of decoding every manifest again through iceberg's scan
//! planning. With delete files, iceberg's planner matches them to the data files.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use iceberg::scan::FileScanTask;
use iceberg::spec::{DEFAULT_SCHEMA_NAME_MAPPING, ManifestContentType, ManifestEntry};
use iceberg::table::Table;

use super::plan::FileGroup;
use super::rewrite::RewriteError;
use crate::live_files::{ManifestCache, manifest_list};

/// The scan tasks of the files of `paths` in `table`'s current snapshot, by path, reading only
/// the manifests `cache` does not hold. Files not in the snapshot are simply absent.
pub async fn scan_tasks<'a>(
    table: &Table,
    paths: impl IntoIterator<Item = &'a str>,
    cache: &ManifestCache,
) -> Result<HashMap<String, FileScanTask>, RewriteError> {
    let wanted: HashSet<&str> = paths.into_iter().collect();
    let scan_err = |e| RewriteError::Scan(Box::new(e));
    match from_manifests(table, &wanted, cache).await.map_err(scan_err)? {
        Some(tasks) => Ok(tasks),
        None => planned(table, &wanted).await.map_err(scan_err),
    }
}

/// Takes the tasks of `group`'s files out of `tasks`, in the group's order; an error names the
/// first file without a task.
pub fn take_group_tasks(
    tasks: &mut HashMap<String, FileScanTask>,
    group: &FileGroup,
) -> Result<Vec<FileScanTask>, RewriteError> {
    if let Some(path) = group.files.iter().find(|p| !tasks.contains_key(p.as_str())) {
        return Err(RewriteError::MissingInput { path: path.clone() });
    }
    Ok(group.files.iter().filter_map(|p| tasks.remove(p)).collect())
}

/// The tasks of `wanted`, planned by iceberg's scan of every column.
async fn planned(
    table: &Table,
    wanted: &HashSet<&str>,
) -> iceberg::Result<HashMap<String, FileScanTask>> {
    let scan = table.scan().select_all().build()?;
    let mut stream = scan.plan_files().await?;
    let mut out = HashMap::new();
    while let Some(task) = stream.try_next().await? {
        if wanted.contains(task.data_file_path.as_str()) {
            out.insert(task.data_file_path.clone(), task);
        }
    }
    Ok(out)
}

/// The tasks of `wanted`, built from the manifest entries as iceberg's planner builds them for
/// a scan of every column; `None` when the snapshot has live delete files or a name mapping
/// (the planner handles those).
async fn from_manifests(
    table: &Table,
    wanted: &HashSet<&str>,
    cache: &ManifestCache,
) -> iceberg::Result<Option<HashMap<String, FileScanTask>>> {
    let md = table.metadata();
    if md.current_snapshot().is_none() {
        return Ok(Some(HashMap::new()));
    }
    if md.properties().contains_key(DEFAULT_SCHEMA_NAME_MAPPING) {
        return Ok(None);
    }
    let list = manifest_list(table).await?;
    let live = |m: &&iceberg::spec::ManifestFile| m.has_added_files() || m.has_existing_files();
    if list.iter().filter(live).any(|m| m.content == ManifestContentType::Deletes) {
        return Ok(None);
    }
    // The current schema, not the snapshot's: a column added since the last write (another
    // engine's ALTER TABLE) is in what compaction writes, read as null from older files.
    let schema = md.current_schema().clone();
    let field_ids: Vec<i32> = schema.as_struct().fields().iter().map(|f| f.id).collect();
    let mut out = HashMap::new();
    for manifest_file in list.iter().filter(live) {
        let entries = cache.read(table, manifest_file).await?;
        if !entries.live.iter().any(|f| wanted.contains(f.path.as_str())) {
            continue;
        }
        let manifest = match entries.loaded {
            Some(manifest) => manifest,
            None => cache.manifest(table, manifest_file).await?,
        };
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            if wanted.contains(entry.file_path()) {
                let task = task(entry, &schema, &field_ids);
                out.insert(task.data_file_path.clone(), task);
            }
        }
    }
    Ok(Some(out))
}

/// The task reading all of `entry`'s file, with the columns `field_ids` of `schema`.
fn task(
    entry: &ManifestEntry,
    schema: &iceberg::spec::SchemaRef,
    field_ids: &[i32],
) -> FileScanTask {
    FileScanTask::builder()
        .with_file_size_in_bytes(entry.file_size_in_bytes())
        .with_start(0)
        .with_length(entry.file_size_in_bytes())
        .with_record_count(Some(entry.record_count()))
        .with_data_file_path(entry.file_path().to_string())
        .with_data_file_format(entry.file_format())
        .with_schema(schema.clone())
        .with_project_field_ids(field_ids.to_vec())
        .with_partition(Some(entry.data_file().partition().clone()))
        .with_case_sensitive(true)
        .build()
}
