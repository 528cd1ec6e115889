//! The changes a job asks of a table: a new snapshot replacing or deleting live files, or a
//! metadata-only removal of old snapshots.

use std::collections::BTreeSet;

use iceberg::spec::DataFile;

use super::merge_policy::MergePolicy;

/// What a snapshot does, as the Iceberg snapshot summary's `operation` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Files rewritten without changing the table's rows (compaction).
    Replace,
    /// Files removed together with their rows (retention); adds nothing.
    Delete,
}

impl ChangeKind {
    /// The Iceberg operation of a snapshot of this kind.
    pub fn operation(self) -> iceberg::spec::Operation {
        match self {
            Self::Replace => iceberg::spec::Operation::Replace,
            Self::Delete => iceberg::spec::Operation::Delete,
        }
    }
}

/// One change to a table's live data files, applied atomically as one snapshot.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotChange {
    /// The snapshot operation.
    pub operation: ChangeKind,
    /// Paths of files to remove; each must be live in the snapshot the change is staged on.
    /// Data files for every kind; either kind may also name delete files (a `delete` those of
    /// the partitions it drops, a `replace` those its rewrite applied).
    pub remove: BTreeSet<String>,
    /// New data files, written with the table's default partition spec.
    pub add: Vec<DataFile>,
    /// Data sequence number of the added files; `None` inherits the new snapshot's.
    ///
    /// A compaction passes the sequence number of the snapshot it read its input from (as
    /// Java's `RewriteFiles` does), so that delete files committed after that snapshot still
    /// apply to the rewritten rows.
    pub added_sequence_number: Option<i64>,
    /// Whether and how the snapshot merges small data manifests (as the table's properties
    /// override it); `None` never merges.
    pub merge: Option<MergePolicy>,
}

impl SnapshotChange {
    /// A `replace` of `remove` by `add`, the added files carrying `added_sequence_number`.
    pub(crate) fn replace(
        remove: impl IntoIterator<Item = String>,
        add: Vec<DataFile>,
        added_sequence_number: Option<i64>,
    ) -> Self {
        Self {
            operation: ChangeKind::Replace,
            remove: remove.into_iter().collect(),
            add,
            added_sequence_number,
            merge: None,
        }
    }

    /// A metadata-only `delete` of `remove`.
    pub(crate) fn delete(remove: impl IntoIterator<Item = String>) -> Self {
        Self {
            operation: ChangeKind::Delete,
            remove: remove.into_iter().collect(),
            add: Vec::new(),
            added_sequence_number: None,
            merge: None,
        }
    }

    /// A metadata-only `replace` that merges the table's small data manifests under `policy`;
    /// the live files are unchanged.
    pub(crate) fn merge_manifests(policy: MergePolicy) -> Self {
        Self {
            operation: ChangeKind::Replace,
            remove: BTreeSet::new(),
            add: Vec::new(),
            added_sequence_number: None,
            merge: Some(policy),
        }
    }

    /// This change, merging small data manifests under `policy` when its snapshot would list
    /// more manifests than the policy allows.
    pub(crate) fn with_manifest_merge(self, policy: MergePolicy) -> Self {
        Self { merge: Some(policy), ..self }
    }

    /// Whether the change only merges manifests.
    pub(crate) fn is_manifest_merge(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty() && self.merge.is_some()
    }
}

/// A metadata-only change: snapshots removed from the table's metadata (snapshot expiration).
/// No snapshot is added and the live files are unchanged; refs to a removed snapshot go too,
/// so the caller names only snapshots no branch or tag points to, never the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoveSnapshots {
    /// The ids of the snapshots to remove.
    pub snapshot_ids: Vec<i64>,
}
