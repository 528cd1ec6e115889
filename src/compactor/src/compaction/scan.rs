//! The scan tasks of a compaction's input files, built from the manifests the pass already
//! read (kept in its [`ManifestCache`]) instead of decoding every manifest again through
//! iceberg's scan planning: each task reads every column of the table's current schema, with
//! the delete files that apply to its file ([`DeleteIndex`]) and the table's name mapping
//! (`schema.name-mapping.default`, which imported files without field ids are read by).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use iceberg::scan::{FileScanTask, FileScanTaskDeleteFile};
use iceberg::spec::{
    DEFAULT_SCHEMA_NAME_MAPPING, ManifestContentType, ManifestEntry, NameMapping, SchemaRef,
};
use iceberg::table::Table;
use iceberg::{Error as IcebergError, ErrorKind};

use super::plan::FileGroup;
use super::rewrite_error::RewriteError;
use crate::delete_index::DeleteIndex;
use crate::live_files::{LiveFile, ManifestCache, live_files_listed};

/// The scan tasks of the files of `paths` in `table`'s current snapshot, by path, reading only
/// the manifests `cache` does not hold. Files not in the snapshot are simply absent.
pub(crate) async fn scan_tasks<'a>(
    table: &Table,
    paths: impl IntoIterator<Item = &'a str>,
    cache: &ManifestCache,
) -> Result<HashMap<String, FileScanTask>, RewriteError> {
    let wanted: HashSet<&str> = paths.into_iter().collect();
    from_manifests(table, &wanted, cache).await.map_err(|e| RewriteError::Scan(Box::new(e)))
}

/// Takes the tasks of `group`'s files out of `tasks`, in the group's order; an error names the
/// first file without a task.
pub(crate) fn take_group_tasks(
    tasks: &mut HashMap<String, FileScanTask>,
    group: &FileGroup,
) -> Result<Vec<FileScanTask>, RewriteError> {
    if let Some(path) = group.files.iter().find(|p| !tasks.contains_key(p.as_str())) {
        return Err(RewriteError::MissingInput { path: path.clone() });
    }
    Ok(group.files.iter().filter_map(|p| tasks.remove(p)).collect())
}

/// The tasks of `wanted`, built from the manifest entries as iceberg's planner builds them for
/// a scan of every column of the current schema.
async fn from_manifests(
    table: &Table,
    wanted: &HashSet<&str>,
    cache: &ManifestCache,
) -> iceberg::Result<HashMap<String, FileScanTask>> {
    let md = table.metadata();
    if md.current_snapshot().is_none() {
        return Ok(HashMap::new());
    }
    let list = cache.list(table).await?;
    let live = live_files_listed(table, &list, cache).await?;
    let index = DeleteIndex::new(&live);
    let by_path: HashMap<&str, &LiveFile> = live.iter().map(|f| (f.path.as_str(), f)).collect();
    // The current schema, not the snapshot's: a column added since the last write (another
    // engine's ALTER TABLE) is in what compaction writes, read as null from older files.
    let schema = md.current_schema().clone();
    let field_ids = schema.as_struct().fields().iter().map(|f| f.id).collect();
    let setup = TaskSetup { schema, field_ids, name_mapping: name_mapping(table)? };
    let is_data = |m: &&iceberg::spec::ManifestFile| {
        m.content == ManifestContentType::Data && (m.has_added_files() || m.has_existing_files())
    };
    let mut out = HashMap::new();
    for manifest_file in list.iter().filter(is_data) {
        let entries = cache.read(table, manifest_file).await?;
        if !entries.live.iter().any(|f| wanted.contains(f.path.as_str())) {
            continue;
        }
        let manifest = match entries.loaded {
            Some(manifest) => manifest,
            None => cache.manifest(table, manifest_file).await?,
        };
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            if !wanted.contains(entry.file_path()) {
                continue;
            }
            let deletes = match by_path.get(entry.file_path()) {
                Some(file) => index.applying_to(file).into_iter().map(delete_task).collect(),
                None => Vec::new(),
            };
            let task = setup.task(entry, deletes);
            out.insert(task.data_file_path.clone(), task);
        }
    }
    Ok(out)
}

/// The table's name mapping, when its properties set one.
fn name_mapping(table: &Table) -> iceberg::Result<Option<Arc<NameMapping>>> {
    let Some(raw) = table.metadata().properties().get(DEFAULT_SCHEMA_NAME_MAPPING) else {
        return Ok(None);
    };
    let mapping = serde_json::from_str::<NameMapping>(raw).map_err(|e| {
        IcebergError::new(
            ErrorKind::DataInvalid,
            format!("table property {DEFAULT_SCHEMA_NAME_MAPPING} is not a name mapping"),
        )
        .with_source(e)
    })?;
    Ok(Some(Arc::new(mapping)))
}

/// What every task of one scan shares.
struct TaskSetup {
    schema: SchemaRef,
    /// Every top-level field of `schema`: the columns each task reads.
    field_ids: Vec<i32>,
    name_mapping: Option<Arc<NameMapping>>,
}

impl TaskSetup {
    /// The task reading all of `entry`'s file with `deletes` applied.
    fn task(&self, entry: &ManifestEntry, deletes: Vec<FileScanTaskDeleteFile>) -> FileScanTask {
        FileScanTask::builder()
            .with_file_size_in_bytes(entry.file_size_in_bytes())
            .with_start(0)
            .with_length(entry.file_size_in_bytes())
            .with_record_count(Some(entry.record_count()))
            .with_data_file_path(entry.file_path().to_string())
            .with_data_file_format(entry.file_format())
            .with_schema(self.schema.clone())
            .with_project_field_ids(self.field_ids.clone())
            .with_deletes(deletes)
            .with_partition(Some(entry.data_file().partition().clone()))
            .with_name_mapping(self.name_mapping.clone())
            .with_case_sensitive(true)
            .build()
    }
}

/// The task of the delete file `file` for a reader.
fn delete_task(file: &LiveFile) -> FileScanTaskDeleteFile {
    FileScanTaskDeleteFile::builder()
        .with_file_path(file.path.clone())
        .with_file_size_in_bytes(file.size)
        .with_file_type(file.content)
        .with_partition_spec_id(file.spec_id)
        .with_equality_ids(file.equality_ids.clone())
        .build()
}
