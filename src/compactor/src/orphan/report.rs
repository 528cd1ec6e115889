//! What one table's cleanup found and did: the `details` of its table report, and its
//! one-line summary.

use serde::Serialize;

use super::candidates::ScanCounts;
use super::delete::Progress;
use super::reference::Unresolved;

/// Where a resumed run picked up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resumed {
    /// The run being resumed.
    pub run_id: String,
    /// Paths up to and including this one were done before.
    pub after_path: String,
    /// The metadata file the interrupted run started from.
    pub metadata_location: String,
    /// Files the interrupted run had deleted.
    pub files_deleted_before: u64,
    /// Bytes the interrupted run had freed.
    pub bytes_freed_before: u64,
}

/// The `details` of an orphan-cleanup table report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OrphanReport {
    /// Whether this was a dry run (nothing deleted).
    pub dry_run: bool,
    /// The table location that was listed.
    pub table_location: String,
    /// The metadata file the reference set was built from (and extended to, on revalidation).
    pub metadata_location: Option<String>,
    /// Snapshots in the metadata, all of which contribute references.
    pub snapshots: u64,
    /// Snapshots older than `max_snapshot_age_hours` (still fully referenced).
    pub snapshots_past_max_age: u64,
    /// Distinct files the metadata references.
    pub reference_set_size: u64,
    /// Manifests read to build the reference set.
    pub manifests_read: u64,
    /// References outside the table location or not normalisable (their file names are kept).
    pub unresolved_references: Unresolved,
    /// What the listing held.
    #[serde(flatten)]
    pub scan: ScanCounts,
    /// What the deletion phase did.
    #[serde(flatten)]
    pub deletion: Progress,
    /// Set when this run continued an interrupted one.
    pub resumed_from_checkpoint: Option<Resumed>,
    /// The candidates (all of them in a dry run, otherwise those left undeleted), by location.
    pub candidates: Vec<String>,
    /// How many candidates `candidates` leaves out.
    pub candidates_not_listed: u64,
}

/// Most candidate locations a report lists.
pub(crate) const LISTED_CANDIDATES: usize = 1000;

impl OrphanReport {
    /// What the cleanup deleted; nothing for a dry run.
    pub fn changes(&self) -> crate::changes::Changes {
        if self.dry_run {
            return crate::changes::Changes::default();
        }
        crate::changes::Changes {
            files_removed: self.deletion.files_deleted,
            bytes_removed: self.deletion.bytes_freed,
            ..crate::changes::Changes::default()
        }
    }

    /// Whether the cleanup found nothing to do on the table, now or once a grace period
    /// ends: no candidate, no unreferenced file kept for its age, nothing deleted or resumed.
    pub fn idle(&self) -> bool {
        self.scan.orphans == 0
            && self.scan.skipped_by_grace == 0
            && self.candidates.is_empty()
            && self.candidates_not_listed == 0
            && self.deletion.files_deleted == 0
            && self.deletion.deletion_failures == 0
            && self.resumed_from_checkpoint.is_none()
    }

    /// Lists `locations` in the report, up to [`LISTED_CANDIDATES`].
    pub fn list_candidates(&mut self, locations: impl ExactSizeIterator<Item = String>) {
        let total = locations.len();
        self.candidates = locations.take(LISTED_CANDIDATES).collect();
        self.candidates_not_listed = (total - self.candidates.len()) as u64;
    }

    /// The one-line summary.
    pub fn summary(&self) -> String {
        let s = &self.scan;
        let resumed = if self.resumed_from_checkpoint.is_some() { ", resumed" } else { "" };
        if self.dry_run {
            return format!(
                "would delete {} orphan file(s) ({} bytes); {} scanned, {} referenced, {} within \
                 the grace period",
                s.orphans, s.orphan_bytes, s.scanned, s.referenced, s.skipped_by_grace
            );
        }
        let d = &self.deletion;
        let mut out = format!(
            "deleted {} orphan file(s) ({} bytes freed) of {} identified, {} failed, {} kept by \
             revalidation; {} scanned, {} referenced, {} within the grace period{resumed}",
            d.files_deleted,
            d.bytes_freed,
            s.orphans,
            d.deletion_failures,
            d.kept_by_revalidation,
            s.scanned,
            s.referenced,
            s.skipped_by_grace
        );
        if d.stopped_early {
            out.push_str("; stopped early, the checkpoint resumes it");
        }
        out
    }
}
