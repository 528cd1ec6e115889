//! Making a staged change current with the catalog's compare-and-swap.

use common::catalog::{CatalogError, SignalCatalog, Swap};
use common::tables::TableId;
use iceberg::io::FileIO;
use iceberg::table::Table;
use tracing::warn;

use super::staged::{Effect, Staged, remove_files};
use crate::log_target;
use crate::state::Fence;

/// Why a staged change did not become current.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Another writer committed since the change was staged; nothing changed and the staged
    /// files were removed. Rebuild the change on the reloaded table and try again.
    #[error("table {table}: another writer committed first (expected metadata {expected})")]
    Conflict {
        /// The table.
        table: String,
        /// The metadata location the snapshot was built on.
        expected: String,
    },
    /// The commit's lease was taken over by another instance (this one paused or lost the
    /// catalog for longer than the lease's TTL); nothing changed and the staged files were
    /// removed. The other instance owns the table now: do not retry.
    #[error(
        "table {table}: not committed, its {job} lease (token {token}) is no longer held: it \
         expired or was taken over by another instance"
    )]
    Fenced {
        /// The table.
        table: String,
        /// The job whose lease was lost.
        job: &'static str,
        /// The token this instance held.
        token: i64,
    },
    /// The swap returned an error and the reloaded table neither points at the staged metadata
    /// nor lists it in its metadata log, so the change almost certainly did not apply. The
    /// staged files are kept all the same (an applied swap superseded by more commits than the
    /// log holds cannot be ruled out); unreferenced, they are orphan cleanup's to reclaim.
    #[error("table {table}: commit failed: {source}")]
    Failed {
        /// The table.
        table: String,
        /// The catalog error of the swap.
        source: CatalogError,
    },
    /// The swap failed and reloading the table failed too, so whether the snapshot became
    /// current is unknown; the staged files are kept because they may be referenced.
    #[error("table {table}: commit outcome unknown ({source}); reload failed: {reload}")]
    Unknown {
        /// The table.
        table: String,
        /// The catalog error of the swap.
        source: CatalogError,
        /// Why the table could not be reloaded.
        reload: Box<iceberg::Error>,
    },
}

impl crate::failure::Classify for CommitError {
    fn failure_kind(&self) -> crate::failure::FailureKind {
        use crate::failure::FailureKind;
        match self {
            Self::Conflict { .. } => FailureKind::Conflict,
            Self::Fenced { .. } => FailureKind::Fenced,
            Self::Failed { .. } | Self::Unknown { .. } => FailureKind::Catalog,
        }
    }
}

impl CommitError {
    /// A short stable name of the error's kind, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => "conflict",
            Self::Fenced { .. } => "fenced",
            Self::Failed { .. } => "failed",
            Self::Unknown { .. } => "unknown",
        }
    }
}

/// Makes `staged` the current metadata of `id` if the table still points at the metadata it
/// was built on, returning what the change did. Only on [`CommitError::Conflict`] are the
/// staged files removed (never data files); a failed swap is checked by reloading the table,
/// since the database may have applied it before the error reached us. Once committed, the
/// metadata files the change dropped from the log are deleted when the table asks for it.
pub(crate) async fn commit<E: Effect>(
    catalog: &SignalCatalog,
    id: &TableId,
    fence: Option<&Fence>,
    staged: Staged<E>,
) -> Result<E::Outcome, CommitError> {
    let (old, new) = (&staged.old_location, &staged.new_location);
    swap_metadata(catalog, id, fence, old, new, &staged.written, &staged.file_io).await?;
    // Committed: the metadata files it dropped from the log are no longer reachable from it.
    remove_files(&staged.file_io, &staged.superseded).await;
    Ok(staged.effect.committed(id, staged.new_location))
}

/// Points `id` at the metadata file `new` if, and only if, it still points at `old`: the one
/// compare-and-swap every change of ours goes through, snapshots and metadata-only changes
/// (snapshot expiration) alike. Only when the swap is known to have lost
/// ([`CommitError::Conflict`]: the row no longer held `old`; [`CommitError::Fenced`]: `fence`'s
/// lease was taken over, checked in the same statement as the swap) are the files in `written` (the
/// attempt's metadata, manifests and lists; never data files) removed. A swap that returned an
/// error counts as committed when the reloaded table points at `new` or lists it in its
/// metadata log (applied, then superseded by another writer); otherwise it is
/// [`CommitError::Failed`] or, when the reload fails too, [`CommitError::Unknown`], and the
/// files are kept, since they may be referenced.
pub(crate) async fn swap_metadata(
    catalog: &SignalCatalog,
    id: &TableId,
    fence: Option<&Fence>,
    old: &str,
    new: &str,
    written: &[String],
    file_io: &FileIO,
) -> Result<(), CommitError> {
    let ident = id.ident();
    let swapped = match fence {
        Some(fence) => {
            catalog.swap_metadata_location_fenced(&ident, old, new, fence.condition()).await
        }
        None => catalog
            .swap_metadata_location(&ident, old, new)
            .await
            .map(|done| if done { Swap::Swapped } else { Swap::Lost }),
    };
    match swapped {
        Ok(Swap::Swapped) => Ok(()),
        Ok(Swap::Lost) => {
            remove_files(file_io, written).await;
            Err(CommitError::Conflict { table: id.to_string(), expected: old.to_string() })
        }
        Ok(Swap::Fenced) => {
            remove_files(file_io, written).await;
            let (job, token) = fence.map_or(("", 0), |f| (f.job.as_str(), f.token));
            Err(CommitError::Fenced { table: id.to_string(), job, token })
        }
        // The database may have applied the swap before the error reached us, and other
        // writers may have committed on top since: nothing written is removed unless the swap
        // is known to have lost (above).
        Err(source) => match catalog.load_table(&ident).await {
            Ok(table) if reaches(&table, new) => {
                warn!(target: log_target::ICEBERG, table = %id, error = %source, "Catalog swap answered with an error; re-reading the table shows it applied, so the commit stands");
                Ok(())
            }
            Ok(_) => {
                warn!(target: log_target::ICEBERG, table = %id, error = %source, "Catalog swap answered with an error; re-reading the table shows it did not apply, so the attempt's files are kept for orphan cleanup");
                Err(CommitError::Failed { table: id.to_string(), source })
            }
            Err(reload) => Err(CommitError::Unknown {
                table: id.to_string(),
                source,
                reload: Box::new(reload),
            }),
        },
    }
}

/// Whether `table`'s metadata is `location` or descends from it (its metadata log lists it).
pub(super) fn reaches(table: &Table, location: &str) -> bool {
    table.metadata_location() == Some(location)
        || table.metadata().metadata_log().iter().any(|entry| entry.metadata_file == location)
}
