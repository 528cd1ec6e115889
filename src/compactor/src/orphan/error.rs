//! What can stop orphan cleanup of one table. None of these ever leads to a deletion: each
//! stops the table's cleanup before (or between) batches.

use common::catalog::CatalogError;
use common::storage::StorageError;

use super::safety::Refusal;
use crate::state::StateError;

/// Why orphan cleanup of a table stopped.
#[derive(Debug, thiserror::Error)]
pub enum OrphanError {
    /// The table's location is shared, nested or outside the warehouse.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Table metadata, a manifest list or a manifest could not be read, so the reference set
    /// would be incomplete.
    #[error("{action}: {source}")]
    Metadata {
        /// What was being read.
        action: &'static str,
        /// The underlying error.
        source: Box<iceberg::Error>,
    },
    /// The table's location is not served by the warehouse's object store.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The listing would not be bounded to one table.
    #[error("refusing to list `{0}`: it is the root of the object store")]
    UnboundedListing(String),
    /// Listing the table's location failed.
    #[error("listing `{location}`: {source}")]
    List {
        /// The table location.
        location: String,
        /// The underlying error.
        source: object_store::Error,
    },
    /// The catalog's tables could not be listed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A pass prepared as a dry run was asked to delete.
    #[error("this orphan cleanup pass was prepared as a dry run and deletes nothing")]
    PreparedAsDryRun,
    /// The checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] StateError),
}

impl crate::failure::Classify for OrphanError {
    fn failure_kind(&self) -> crate::failure::FailureKind {
        use crate::failure::FailureKind;
        match self {
            Self::Refused(_) => FailureKind::UnfitTable,
            Self::Metadata { source, .. } => FailureKind::of_iceberg(source),
            Self::Storage(_) | Self::UnboundedListing(_) | Self::List { .. } => {
                FailureKind::Storage
            }
            Self::Catalog(_) | Self::Checkpoint(_) => FailureKind::Catalog,
            Self::PreparedAsDryRun => FailureKind::Internal,
        }
    }
}

impl OrphanError {
    /// A metadata read failure while doing `action`.
    pub fn metadata(action: &'static str, source: iceberg::Error) -> Self {
        Self::Metadata { action, source: Box::new(source) }
    }
}
