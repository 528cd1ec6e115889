//! Staging a snapshot change: every file of the new snapshot written, nothing visible until
//! commit.

use iceberg::spec::{
    FormatVersion, MAIN_BRANCH, ManifestListWriter, Snapshot, SnapshotSummaryCollector, Summary,
    TableMetadata, TableMetadataBuilder,
};
use iceberg::table::Table;

use super::change::{ChangeKind, SnapshotChange};
use super::error::{SnapshotError, iceberg_err};
use super::manifests::{NewFiles, Removed, read_parent, split_touched, write_added, write_removed};
use super::metadata::{NextMetadata, write_next_metadata};
use super::staged::{Change, NewSnapshot, Staged, remove_files};
use super::summary::add_totals;
use crate::live_files::ManifestCache;

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
pub async fn stage(
    table: &Table,
    change: &SnapshotChange,
    now_ms: i64,
) -> Result<Staged<NewSnapshot>, SnapshotError> {
    stage_cached(table, change, now_ms, &ManifestCache::new()).await
}

/// [`stage`], remembering in `cache` what each manifest lists so that later attempts on the
/// same table read only manifests they have not seen.
pub async fn stage_cached(
    table: &Table,
    change: &SnapshotChange,
    now_ms: i64,
    cache: &ManifestCache,
) -> Result<Staged<NewSnapshot>, SnapshotError> {
    validate(table.metadata(), change)?;
    let delete_files = change.operation == ChangeKind::Delete;
    let parent_manifests = read_parent(table, &change.remove, delete_files, cache).await?;
    let metadata = table.metadata();
    let snapshot_id = new_snapshot_id(metadata);
    let mut files = NewFiles::new(metadata, table.file_io(), snapshot_id);
    match write_snapshot(table, change, parent_manifests, &mut files, now_ms).await {
        Ok(staged) => Ok(Staged { written: files.written, ..staged }),
        Err(e) => {
            remove_files(table.file_io(), &files.written).await;
            Err(e)
        }
    }
}

fn validate(metadata: &TableMetadata, change: &SnapshotChange) -> Result<(), SnapshotError> {
    let invalid = |reason| Err(SnapshotError::InvalidChange { kind: change.operation, reason });
    if metadata.format_version() != FormatVersion::V2 {
        return Err(SnapshotError::UnsupportedFormatVersion(metadata.format_version()));
    }
    if metadata.current_snapshot().is_none() && change.add.is_empty() {
        return invalid("the table has no current snapshot and the change adds no file");
    }
    match change.operation {
        ChangeKind::Delete if !change.add.is_empty() => invalid("a delete adds no files"),
        _ if change.remove.is_empty() => invalid("the change removes no file"),
        _ => Ok(()),
    }
}

async fn write_snapshot(
    table: &Table,
    change: &SnapshotChange,
    parent_manifests: super::manifests::ParentManifests,
    files: &mut NewFiles<'_>,
    now_ms: i64,
) -> Result<Staged<NewSnapshot>, SnapshotError> {
    let metadata = table.metadata();
    let parent = metadata.current_snapshot();
    let snapshot_id = files.snapshot_id();
    let sequence_number = metadata.next_sequence_number();

    let mut collector = SnapshotSummaryCollector::default();
    let limit = metadata.properties().get(PARTITION_SUMMARY_LIMIT).and_then(|v| v.parse().ok());
    collector.set_partition_summary_limit(limit.unwrap_or(0));

    let mut manifests = parent_manifests.reused;
    let mut removed = Removed::default();
    for touched in parent_manifests.touched {
        let survivors =
            split_touched(touched, &change.remove, files, &mut collector, &mut removed).await?;
        manifests.extend(survivors);
    }
    manifests.extend(write_removed(removed, files).await?);
    if !change.add.is_empty() {
        let added =
            write_added(&change.add, change.added_sequence_number, files, &mut collector).await?;
        manifests.push(added);
    }

    let list_location = files.manifest_list_location();
    let output =
        table.file_io().new_output(&list_location).map_err(iceberg_err("create manifest list"))?;
    files.written.push(list_location.clone());
    let sink = output.writer().await.map_err(iceberg_err("open manifest list"))?;
    let parent_id = parent.map(|p| p.snapshot_id());
    let mut list = ManifestListWriter::v2(sink, snapshot_id, parent_id, sequence_number);
    list.add_manifests(manifests.into_iter()).map_err(iceberg_err("write manifest list"))?;
    list.close().await.map_err(iceberg_err("write manifest list"))?;

    let mut properties = collector.build();
    add_totals(&mut properties, parent.map(|p| &p.summary().additional_properties));
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
    let NextMetadata { old_location, new_location, superseded } =
        write_next_metadata(table, update, &mut files.written).await?;
    Ok(Staged {
        old_location,
        new_location,
        written: Vec::new(),
        superseded,
        effect: NewSnapshot { snapshot_id, sequence_number, summary },
        file_io: table.file_io().clone(),
    })
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
