//! Writing a table's next metadata file, for a new snapshot and for a metadata-only change
//! alike; and staging the metadata-only removal of snapshots.

use std::str::FromStr;

use iceberg::spec::TableMetadataBuilder;
use iceberg::table::Table;
use iceberg::{MetadataLocation, Runtime};

use super::change::RemoveSnapshots;
use super::error::{SnapshotError, iceberg_err};
use super::staged::{Change, Staged, remove_files};
use crate::live_files::ManifestCache;

/// Table property: delete the metadata files a commit drops from the metadata log (Java's).
pub(super) const DELETE_AFTER_COMMIT: &str = "write.metadata.delete-after-commit.enabled";

/// Where the next metadata file goes, and what committing it supersedes.
pub(super) struct NextMetadata {
    /// The current metadata location (the compare-and-swap's expected value).
    pub(super) old_location: String,
    /// The new metadata location.
    pub(super) new_location: String,
    /// Metadata files dropped from the log (beyond `write.metadata.previous-versions-max`,
    /// default 100) that are to be deleted once committed: only when the table sets
    /// [`DELETE_AFTER_COMMIT`]; otherwise they stay for orphan cleanup.
    pub(super) superseded: Vec<String>,
    /// The table as it is once the new metadata is committed.
    pub(super) next: Table,
}

/// Writes `update` applied to `table`'s current metadata as the next metadata file
/// (`NNNNN-<uuid>.metadata.json`, the current one kept in its metadata log, which the builder
/// trims to `write.metadata.previous-versions-max`), recording its location in `written`
/// before writing.
pub(super) async fn write_next_metadata(
    table: &Table,
    update: impl FnOnce(TableMetadataBuilder) -> iceberg::Result<TableMetadataBuilder>,
    written: &mut Vec<String>,
) -> Result<NextMetadata, SnapshotError> {
    let old_location = table
        .metadata_location_result()
        .map_err(iceberg_err("read metadata location"))?
        .to_string();
    let builder = TableMetadataBuilder::new_from_metadata(
        table.metadata().clone(),
        Some(old_location.clone()),
    );
    let built =
        update(builder).and_then(|b| b.build()).map_err(iceberg_err("build new table metadata"))?;
    let new_metadata = built.metadata;
    // Java reads the property with `Boolean.parseBoolean`: any case of `true`.
    let delete_superseded = (table.metadata().properties().get(DELETE_AFTER_COMMIT))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let superseded = if delete_superseded {
        built.expired_metadata_logs.into_iter().map(|log| log.metadata_file).collect()
    } else {
        Vec::new()
    };
    let new_location = MetadataLocation::from_str(&old_location)
        .map_err(iceberg_err("parse metadata location"))?
        .with_next_version()
        .with_new_metadata(&new_metadata);
    written.push(new_location.to_string());
    new_metadata
        .write_to(table.file_io(), &new_location)
        .await
        .map_err(iceberg_err("write new table metadata"))?;
    let next = Table::builder()
        .file_io(table.file_io().clone())
        .identifier(table.identifier().clone())
        .metadata_location(new_location.to_string())
        .metadata(new_metadata)
        .runtime(Runtime::try_current().map_err(iceberg_err("describe the next table"))?)
        .build()
        .map_err(iceberg_err("describe the next table"))?;
    Ok(NextMetadata { old_location, new_location: new_location.to_string(), superseded, next })
}

/// Stages `change` on `table`'s current metadata: the snapshots it names removed, with every
/// ref pointing to one of them; no data, manifest or manifest-list file is written or deleted.
pub(crate) async fn stage_removal(
    table: &Table,
    change: &RemoveSnapshots,
) -> Result<Staged<RemoveSnapshots>, SnapshotError> {
    let mut written = Vec::new();
    let update = |b: TableMetadataBuilder| Ok(b.remove_snapshots(&change.snapshot_ids));
    match write_next_metadata(table, update, &mut written).await {
        Ok(NextMetadata { old_location, new_location, superseded, next }) => Ok(Staged {
            old_location,
            new_location,
            written,
            superseded,
            next,
            effect: change.clone(),
            file_io: table.file_io().clone(),
        }),
        Err(e) => {
            remove_files(table.file_io(), &written).await;
            Err(e)
        }
    }
}

impl Change for RemoveSnapshots {
    type Effect = RemoveSnapshots;

    async fn stage(
        &self,
        table: &Table,
        _now_ms: i64,
        _cache: &ManifestCache,
    ) -> Result<Staged<RemoveSnapshots>, SnapshotError> {
        stage_removal(table, self).await
    }
}
