//! The manifests of a new snapshot: which of the parent's manifests are reused, rewritten or
//! dropped, the one manifest (per spec and content) of the entries it removes, and the
//! manifest written for added files.

use std::collections::BTreeSet;

use futures::{StreamExt, TryStreamExt, stream};
use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, FormatVersion, Manifest, ManifestContentType, ManifestFile, ManifestWriter,
    ManifestWriterBuilder, PartitionSpecRef, SnapshotSummaryCollector, TableMetadata,
};
use iceberg::table::Table;
use uuid::Uuid;

use crate::live_files::{MANIFEST_READS, ManifestCache, ManifestEntries};

use super::error::{SnapshotError, iceberg_err};

/// Names and remembers every file one staging attempt writes, so that a failed or losing
/// attempt can remove exactly those.
pub(super) struct NewFiles<'a> {
    /// The metadata the snapshot is staged on.
    pub(super) metadata: &'a TableMetadata,
    file_io: &'a FileIO,
    snapshot_id: i64,
    attempt: Uuid,
    manifests: u32,
    /// Every location written so far, in order.
    pub(super) written: Vec<String>,
}

impl<'a> NewFiles<'a> {
    /// A fresh attempt producing `snapshot_id` for the table described by `metadata`.
    pub(super) fn new(metadata: &'a TableMetadata, file_io: &'a FileIO, snapshot_id: i64) -> Self {
        Self {
            metadata,
            file_io,
            snapshot_id,
            attempt: Uuid::new_v4(),
            manifests: 0,
            written: Vec::new(),
        }
    }

    /// The id of the snapshot being produced.
    pub(super) fn snapshot_id(&self) -> i64 {
        self.snapshot_id
    }

    /// The next manifest location: `{table}/metadata/{attempt}-m{n}.avro`, as Java names them.
    fn manifest_location(&mut self) -> String {
        let n = self.manifests;
        self.manifests += 1;
        format!("{}/metadata/{}-m{n}.avro", self.metadata.location(), self.attempt)
    }

    /// The manifest list location: `{table}/metadata/snap-{snapshot}-0-{attempt}.avro`.
    pub(super) fn manifest_list_location(&self) -> String {
        format!(
            "{}/metadata/snap-{}-0-{}.avro",
            self.metadata.location(),
            self.snapshot_id,
            self.attempt
        )
    }

    /// A manifest writer of `content` for files of `spec`, in the table's format version (v1
    /// or v2), recording its location.
    pub(super) fn manifest_writer(
        &mut self,
        spec: &PartitionSpecRef,
        content: ManifestContentType,
    ) -> Result<ManifestWriter, SnapshotError> {
        let location = self.manifest_location();
        let output = self.file_io.new_output(&location).map_err(iceberg_err("create manifest"))?;
        self.written.push(location);
        let builder = ManifestWriterBuilder::new(
            output,
            Some(self.snapshot_id),
            self.metadata.current_schema().clone(),
            spec.as_ref().clone(),
        );
        Ok(match (self.metadata.format_version(), content) {
            (FormatVersion::V1, ManifestContentType::Data) => builder.build_v1(),
            (FormatVersion::V1, ManifestContentType::Deletes) => {
                return Err(SnapshotError::UnsupportedFormatVersion(FormatVersion::V1));
            }
            (_, ManifestContentType::Data) => builder.build_v2_data(),
            (_, ManifestContentType::Deletes) => builder.build_v2_deletes(),
        })
    }
}

/// The parent snapshot's manifests, sorted by what the new snapshot does with them.
pub(super) struct ParentManifests {
    /// Reused verbatim: untouched data manifests and every delete manifest with live entries.
    pub(super) reused: Vec<ManifestFile>,
    /// Data manifests holding at least one removed file, loaded (inherited values filled in).
    pub(super) touched: Vec<(ManifestFile, Manifest)>,
}

/// Reads the manifests of `table`'s current snapshot and checks that every path in `remove`
/// is live in it, before anything is written. Paths are looked for in data and delete
/// manifests (a `delete` drops a partition's delete files with its data files; a `replace`
/// drops the delete files its rewrite applied that no longer apply to any live file).
///
/// Manifests without live entries (only DELETED entries of older snapshots) are dropped, as
/// Java and pyiceberg do: they describe earlier changes, not this snapshot's files. A manifest
/// whose live entries are in `cache` is not read again unless it holds a removed file.
pub(super) async fn read_parent(
    table: &Table,
    remove: &BTreeSet<String>,
    cache: &ManifestCache,
) -> Result<ParentManifests, SnapshotError> {
    let mut out = ParentManifests { reused: Vec::new(), touched: Vec::new() };
    if table.metadata().current_snapshot().is_none() {
        if remove.is_empty() {
            return Ok(out);
        }
        return Err(SnapshotError::FilesNoLongerLive { missing: remove.iter().cloned().collect() });
    };
    let parent_files =
        cache.list(table).await.map_err(iceberg_err("read the current manifest list"))?;
    let mut found = BTreeSet::new();
    let live = parent_files.iter().filter(|f| f.has_added_files() || f.has_existing_files());
    if remove.is_empty() {
        out.reused.extend(live.cloned());
        return Ok(out);
    }
    // Read several at once, in order: mostly from the cache the plan filled. A manifest that
    // holds a removed file is read whole inside its own read, never while the others wait
    // unpolled: none of them keeps an object-store request slot the whole read waits for.
    let mut reads = Vec::new();
    for file in live {
        reads.push(async move {
            let ManifestEntries { live, loaded } = cache
                .read(table, file)
                .await
                .map_err(iceberg_err("read a manifest of the current snapshot"))?;
            let hits: Vec<String> =
                live.iter().filter(|f| remove.contains(&f.path)).map(|f| f.path.clone()).collect();
            let manifest = match (hits.is_empty(), loaded) {
                (true, _) => None,
                (false, Some(manifest)) => Some(manifest),
                (false, None) => Some(load(table, cache, file).await?),
            };
            Ok::<_, SnapshotError>((file, hits, manifest))
        });
    }
    let mut read = stream::iter(reads).buffered(MANIFEST_READS);
    while let Some((file, hits, manifest)) = read.try_next().await? {
        found.extend(hits);
        match manifest {
            None => out.reused.push(file.clone()),
            Some(manifest) => out.touched.push((file.clone(), manifest)),
        }
    }
    if found.len() != remove.len() {
        let missing = remove.difference(&found).cloned().collect();
        return Err(SnapshotError::FilesNoLongerLive { missing });
    }
    Ok(out)
}

/// The whole manifest `file` of `table`, from `cache` when it kept it.
pub(super) async fn load(
    table: &Table,
    cache: &ManifestCache,
    file: &ManifestFile,
) -> Result<Manifest, SnapshotError> {
    cache
        .manifest(table, file)
        .await
        .map_err(iceberg_err("read a manifest of the current snapshot"))
}

/// One manifest entry carried into a new manifest: the file with the snapshot id and sequence
/// numbers it keeps.
pub(super) struct Entry {
    /// The file.
    pub(super) file: DataFile,
    /// The snapshot that added it.
    pub(super) snapshot_id: i64,
    /// Its data sequence number.
    pub(super) sequence_number: i64,
    /// Its file sequence number.
    pub(super) file_sequence_number: Option<i64>,
}

/// Entries a snapshot removes, gathered from every touched manifest and written once, as
/// DELETED entries in one manifest per partition spec and content.
#[derive(Default)]
pub(super) struct Removed {
    /// By (spec id, content).
    by_spec: std::collections::BTreeMap<(i32, u8), Vec<Entry>>,
}

/// A stable ordering key of a manifest content type.
fn content_key(content: ManifestContentType) -> u8 {
    match content {
        ManifestContentType::Data => 0,
        ManifestContentType::Deletes => 1,
    }
}

/// The live entries of a touched manifest that the new snapshot keeps.
pub(super) struct Survivors {
    /// The touched manifest.
    pub(super) file: ManifestFile,
    /// Entries it held, DELETED ones included (a measure of its size per entry).
    pub(super) entries_read: usize,
    /// Its live entries that are not removed.
    pub(super) entries: Vec<Entry>,
}

/// Splits one touched manifest (data or delete): its removed entries go to `removed` and are
/// counted in `summary`; its other live entries are returned, to be written as EXISTING
/// (keeping their snapshot id and sequence numbers) in a manifest of their own or merged with
/// others. Entries already DELETED are left out.
pub(super) fn split_touched(
    (file, manifest): (ManifestFile, Manifest),
    remove: &BTreeSet<String>,
    metadata: &TableMetadata,
    summary: &mut SnapshotSummaryCollector,
    removed: &mut Removed,
) -> Result<Survivors, SnapshotError> {
    let spec = spec_of(metadata, &file)?;
    let schema = metadata.current_schema().clone();
    let mut survivors =
        Survivors { entries_read: manifest.entries().len(), entries: Vec::new(), file };
    for entry in live_entries(&survivors.file, &manifest)? {
        if remove.contains(entry.file.file_path()) {
            summary.remove_file(&entry.file, schema.clone(), spec.clone());
            let key = (survivors.file.partition_spec_id, content_key(survivors.file.content));
            removed.by_spec.entry(key).or_default().push(entry);
        } else {
            survivors.entries.push(entry);
        }
    }
    Ok(survivors)
}

/// The live (ADDED or EXISTING) entries of `manifest`, listed as `file`.
pub(super) fn live_entries(
    file: &ManifestFile,
    manifest: &Manifest,
) -> Result<Vec<Entry>, SnapshotError> {
    manifest
        .entries()
        .iter()
        .filter(|e| e.is_alive())
        .map(|entry| {
            let missing_inherited = || SnapshotError::IncompleteEntry {
                manifest: file.manifest_path.clone(),
                path: entry.file_path().to_string(),
            };
            Ok(Entry {
                file: entry.data_file().clone(),
                snapshot_id: entry.snapshot_id().ok_or_else(missing_inherited)?,
                sequence_number: entry.sequence_number().ok_or_else(missing_inherited)?,
                file_sequence_number: entry.file_sequence_number,
            })
        })
        .collect()
}

/// The partition spec of the files `file` lists.
pub(super) fn spec_of(
    metadata: &TableMetadata,
    file: &ManifestFile,
) -> Result<PartitionSpecRef, SnapshotError> {
    metadata.partition_spec_by_id(file.partition_spec_id).cloned().ok_or_else(|| {
        SnapshotError::UnknownPartitionSpec {
            manifest: file.manifest_path.clone(),
            spec_id: file.partition_spec_id,
        }
    })
}

/// A new manifest with every entry added, not stored yet: the manifests of one snapshot are
/// filled one after another (naming them needs [`NewFiles`]) and then stored together by
/// [`store`].
pub(super) struct Unstored {
    writer: ManifestWriter,
    /// What storing it does, for an error.
    action: &'static str,
}

/// Manifests of one snapshot stored at the same time.
const MANIFEST_WRITES: usize = 16;

/// Stores `manifests` several at once (one round trip to the object store for a commit's few
/// manifests, not one each) and returns them in the order given.
pub(super) async fn store(manifests: Vec<Unstored>) -> Result<Vec<ManifestFile>, SnapshotError> {
    let mut writes = Vec::new();
    for Unstored { writer, action } in manifests {
        writes.push(async move { writer.write_manifest_file().await.map_err(iceberg_err(action)) });
    }
    stream::iter(writes).buffered(MANIFEST_WRITES).try_collect().await
}

/// `entries` as EXISTING in one new manifest of `content` for files of `spec`; `None` when
/// there are none.
pub(super) fn fill_existing(
    spec: &PartitionSpecRef,
    content: ManifestContentType,
    entries: Vec<Entry>,
    files: &mut NewFiles<'_>,
) -> Result<Option<Unstored>, SnapshotError> {
    if entries.is_empty() {
        return Ok(None);
    }
    let mut writer = files.manifest_writer(spec, content)?;
    for Entry { file, snapshot_id, sequence_number, file_sequence_number } in entries {
        writer
            .add_existing_file(file, snapshot_id, sequence_number, file_sequence_number)
            .map_err(iceberg_err("add an entry to a rewritten manifest"))?;
    }
    Ok(Some(Unstored { writer, action: "write a rewritten manifest" }))
}

/// The removed entries, DELETED, in one manifest per partition spec and content.
pub(super) fn fill_removed(
    removed: Removed,
    files: &mut NewFiles<'_>,
) -> Result<Vec<Unstored>, SnapshotError> {
    let mut out = Vec::new();
    for ((spec_id, content), entries) in removed.by_spec {
        let spec = files.metadata.partition_spec_by_id(spec_id).cloned().ok_or_else(|| {
            SnapshotError::UnknownPartitionSpec { manifest: "(removed entries)".into(), spec_id }
        })?;
        let content =
            if content == 0 { ManifestContentType::Data } else { ManifestContentType::Deletes };
        let mut writer = files.manifest_writer(&spec, content)?;
        for Entry { file, sequence_number, file_sequence_number, .. } in entries {
            writer
                .add_delete_file(file, sequence_number, file_sequence_number)
                .map_err(iceberg_err("add an entry to the manifest of removed files"))?;
        }
        out.push(Unstored { writer, action: "write the manifest of removed files" });
    }
    Ok(out)
}

impl Removed {
    /// The number of manifests [`fill_removed`] makes of these entries.
    pub(super) fn manifests(&self) -> usize {
        self.by_spec.len()
    }
}

/// The manifest of the added files (the table's default spec), each ADDED with
/// `sequence_number` or, when `None`, the new snapshot's. Added files are counted in `summary`.
pub(super) fn fill_added(
    add: &[DataFile],
    sequence_number: Option<i64>,
    files: &mut NewFiles<'_>,
    summary: &mut SnapshotSummaryCollector,
) -> Result<Unstored, SnapshotError> {
    let metadata = files.metadata;
    let spec = metadata.default_partition_spec().clone();
    let schema = metadata.current_schema().clone();
    let arity = spec.fields().len();
    if let Some(bad) = add.iter().find(|f| f.partition().fields().len() != arity) {
        return Err(SnapshotError::AddedFileSpec { path: bad.file_path().to_string() });
    }
    let mut writer = files.manifest_writer(&spec, ManifestContentType::Data)?;
    for data_file in add {
        summary.add_file(data_file, schema.clone(), spec.clone());
        // A negative number leaves the data sequence number to be inherited.
        writer
            .add_file(data_file.clone(), sequence_number.unwrap_or(-1))
            .map_err(iceberg_err("add an entry to the manifest of added files"))?;
    }
    Ok(Unstored { writer, action: "write the manifest of added files" })
}
