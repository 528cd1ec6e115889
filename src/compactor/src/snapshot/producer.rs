//! Staging a snapshot change: every file of the new snapshot written, nothing visible until
//! commit.

use futures::{StreamExt, TryStreamExt, stream};
use iceberg::spec::{
    FormatVersion, MAIN_BRANCH, ManifestContentType, ManifestFile, ManifestListWriter, Snapshot,
    SnapshotSummaryCollector, Summary, TableMetadata, TableMetadataBuilder,
};
use iceberg::table::Table;

use super::change::{ChangeKind, SnapshotChange};
use super::error::{SnapshotError, iceberg_err};
use super::manifests::{
    NewFiles, ParentManifests, Removed, fill_added, fill_existing, fill_removed, live_entries,
    load, read_parent, spec_of, split_touched, store,
};
use super::merge::{ManifestMerge, MergePool};
use super::metadata::{NextMetadata, write_next_metadata};
use super::staged::{Change, NewSnapshot, Staged, remove_files};
use super::summary::add_totals;
use crate::live_files::{MANIFEST_READS, ManifestCache};

/// Table property limiting how many changed partitions get their own summary entry (Java's).
const PARTITION_SUMMARY_LIMIT: &str = "write.summary.partition-limit";

/// Builds `change` as a new snapshot on `table`'s current metadata and writes all its files.
///
/// Untouched manifests are reused verbatim; a manifest holding removed files is rewritten
/// with its surviving entries only (none written when nothing survives), and the removed
/// entries are written once, DELETED, in one manifest per partition spec and content;
/// manifests holding only DELETED entries are dropped; delete
/// manifests are carried over, except that a `delete` may remove delete files too (the
/// partition's, when retention drops it); added files go into one new manifest. The summary
/// carries the collector's added/removed counts and totals as the parent's plus added minus
/// removed.
/// `now_ms` becomes the snapshot's timestamp (never earlier than the table's last update).
#[cfg(test)]
pub(crate) async fn stage(
    table: &Table,
    change: &SnapshotChange,
    now_ms: i64,
) -> Result<Staged<NewSnapshot>, SnapshotError> {
    stage_cached(table, change, now_ms, &ManifestCache::new()).await
}

/// [`stage`], remembering in `cache` what each manifest lists so that later attempts on the
/// same table read only manifests they have not seen.
pub(crate) async fn stage_cached(
    table: &Table,
    change: &SnapshotChange,
    now_ms: i64,
    cache: &ManifestCache,
) -> Result<Staged<NewSnapshot>, SnapshotError> {
    validate(table.metadata(), change)?;
    let parent_manifests = read_parent(table, &change.remove, cache).await?;
    let metadata = table.metadata();
    let snapshot_id = new_snapshot_id(metadata);
    let mut files = NewFiles::new(metadata, table.file_io(), snapshot_id);
    match write_snapshot(table, change, parent_manifests, &mut files, now_ms, cache).await {
        Ok(staged) => Ok(Staged { written: files.written, ..staged }),
        Err(e) => {
            remove_files(table.file_io(), &files.written).await;
            Err(e)
        }
    }
}

fn validate(metadata: &TableMetadata, change: &SnapshotChange) -> Result<(), SnapshotError> {
    let invalid = |reason| Err(SnapshotError::InvalidChange { kind: change.operation, reason });
    if !matches!(metadata.format_version(), FormatVersion::V1 | FormatVersion::V2) {
        return Err(SnapshotError::UnsupportedFormatVersion(metadata.format_version()));
    }
    if metadata.current_snapshot().is_none() && change.add.is_empty() {
        return invalid("the table has no current snapshot and the change adds no file");
    }
    match change.operation {
        ChangeKind::Delete if !change.add.is_empty() => invalid("a delete adds no files"),
        _ if change.remove.is_empty() && !change.is_manifest_merge() => {
            invalid("the change removes no file")
        }
        _ => Ok(()),
    }
}

async fn write_snapshot(
    table: &Table,
    change: &SnapshotChange,
    parent_manifests: ParentManifests,
    files: &mut NewFiles<'_>,
    now_ms: i64,
    cache: &ManifestCache,
) -> Result<Staged<NewSnapshot>, SnapshotError> {
    let metadata = table.metadata();
    let parent = metadata.current_snapshot();
    let snapshot_id = files.snapshot_id();
    let sequence_number = metadata.next_sequence_number();

    let mut collector = SnapshotSummaryCollector::default();
    let limit = metadata.properties().get(PARTITION_SUMMARY_LIMIT).and_then(|v| v.parse().ok());
    collector.set_partition_summary_limit(limit.unwrap_or(0));

    let (manifests, merge) =
        write_manifests(table, change, parent_manifests, files, &mut collector, cache).await?;
    let manifest_count = manifests.len();

    let list_location = files.manifest_list_location();
    let output =
        table.file_io().new_output(&list_location).map_err(iceberg_err("create manifest list"))?;
    files.written.push(list_location.clone());
    let sink = output.writer().await.map_err(iceberg_err("open manifest list"))?;
    let parent_id = parent.map(|p| p.snapshot_id());
    // A v1 table has no sequence numbers: its list and manifests are written as v1.
    let mut list = match metadata.format_version() {
        FormatVersion::V1 => ManifestListWriter::v1(sink, snapshot_id, parent_id),
        _ => ManifestListWriter::v2(sink, snapshot_id, parent_id, sequence_number),
    };
    list.add_manifests(manifests.into_iter()).map_err(iceberg_err("write manifest list"))?;
    // Stored at the same time as the metadata file below, which names it but needs nothing
    // else of it: one round trip to the object store instead of two. Neither is visible
    // until the commit's swap, which waits for both.
    let close_list = async move { list.close().await.map_err(iceberg_err("write manifest list")) };

    let mut properties = collector.build();
    add_totals(&mut properties, parent.map(|p| &p.summary().additional_properties));
    if let Some(merge) = &merge {
        for (key, value) in [
            ("manifests-created", merge.created),
            ("manifests-replaced", merge.replaced),
            ("manifests-kept", merge.kept),
            ("entries-processed", merge.entries),
        ] {
            properties.insert(key.to_string(), value.to_string());
        }
    }
    let summary =
        Summary { operation: change.operation.operation(), additional_properties: properties };
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent_id)
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(now_ms.max(metadata.last_updated_ms()))
        .with_manifest_list(list_location)
        .with_summary(summary.clone())
        .with_schema_id(metadata.current_schema_id())
        .build();

    let update = |b: TableMetadataBuilder| b.set_branch_snapshot(snapshot, MAIN_BRANCH);
    let ((), NextMetadata { old_location, new_location, superseded, next }) =
        futures::try_join!(close_list, write_next_metadata(table, update, &mut files.written))?;
    Ok(Staged {
        old_location,
        new_location,
        written: Vec::new(),
        superseded,
        next,
        effect: NewSnapshot { snapshot_id, summary, manifests: manifest_count, merge },
        file_io: table.file_io().clone(),
    })
}

/// Writes the manifests of the new snapshot and returns its manifest list, with what merging
/// did when it merged: the touched manifests' survivors, the removed entries, the added
/// files; when the list would be longer than the change's merge policy allows, the survivors
/// of touched data manifests and the reused small data manifests are merged instead of being
/// listed as they are.
async fn write_manifests(
    table: &Table,
    change: &SnapshotChange,
    parent: ParentManifests,
    files: &mut NewFiles<'_>,
    collector: &mut SnapshotSummaryCollector,
    cache: &ManifestCache,
) -> Result<(Vec<ManifestFile>, Option<ManifestMerge>), SnapshotError> {
    let metadata = table.metadata();
    let mut removed = Removed::default();
    let mut survivors = Vec::new();
    for touched in parent.touched {
        let split = split_touched(touched, &change.remove, metadata, collector, &mut removed)?;
        if !split.entries.is_empty() {
            survivors.push(split);
        }
    }
    let listed = parent.reused.len()
        + survivors.len()
        + removed.manifests()
        + usize::from(!change.add.is_empty());
    let policy = change.merge.map(|p| p.for_table(metadata.properties()));
    let merging = policy.filter(|p| {
        let candidates = parent.reused.iter().filter(|m| p.mergeable(m)).count()
            + survivors.iter().filter(|s| s.file.content == ManifestContentType::Data).count();
        p.due(listed) && candidates >= 2
    });

    let mut manifests = Vec::new();
    let mut pool = MergePool::default();
    let (merged_in, kept_as_is): (Vec<_>, Vec<_>) =
        parent.reused.into_iter().partition(|file| merging.is_some_and(|p| p.mergeable(file)));
    manifests.extend(kept_as_is);
    // The manifests merged are read several at once, in order.
    let mut reads = Vec::new();
    for file in merged_in {
        reads.push(async move { load(table, cache, &file).await.map(|m| (file, m)) });
    }
    let mut loaded = stream::iter(reads).buffered(MANIFEST_READS);
    while let Some((file, manifest)) = loaded.try_next().await? {
        let entries = live_entries(&file, &manifest)?;
        pool.add(metadata, &file, manifest.entries().len(), entries)?;
    }
    let kept = manifests.len();
    // The new manifests are filled in the list's order, then stored together.
    let mut unstored = Vec::new();
    for survivor in survivors {
        if merging.is_some() && survivor.file.content == ManifestContentType::Data {
            pool.add_survivors(metadata, survivor)?;
        } else {
            let (spec, content) = (spec_of(metadata, &survivor.file)?, survivor.file.content);
            unstored.extend(fill_existing(&spec, content, survivor.entries, files)?);
        }
    }
    let merge = match merging {
        Some(p) if pool.len() > 0 => {
            let (merged, merge) = pool.fill(p.target_size_bytes, files)?;
            unstored.extend(merged);
            Some(ManifestMerge { kept, ..merge })
        }
        _ => None,
    };
    if change.is_manifest_merge() && merge.is_none() {
        return Err(SnapshotError::InvalidChange {
            kind: change.operation,
            reason: "the table has no manifests to merge",
        });
    }
    unstored.extend(fill_removed(removed, files)?);
    if !change.add.is_empty() {
        let added = fill_added(&change.add, change.added_sequence_number, files, collector)?;
        unstored.push(added);
    }
    manifests.extend(store(unstored).await?);
    Ok((manifests, merge))
}

/// A positive snapshot id not used by any snapshot of `metadata`.
fn new_snapshot_id(metadata: &TableMetadata) -> i64 {
    loop {
        let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((high ^ low) & (i64::MAX as u64)) as i64;
        if id != 0 && metadata.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

impl Change for SnapshotChange {
    type Effect = NewSnapshot;

    async fn stage(
        &self,
        table: &Table,
        now_ms: i64,
        cache: &ManifestCache,
    ) -> Result<Staged<NewSnapshot>, SnapshotError> {
        stage_cached(table, self, now_ms, cache).await
    }
}
