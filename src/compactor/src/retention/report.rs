//! What a retention pass reports per table: its typed outcome ([`RetentionDetails`], the
//! `details` of its table report in `--json` form), its one-line summary, and the lines the
//! text report of `compactor retention` prints for it.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::expire::ExpiredSnapshot;
use super::partitions::{Partition, Skipped};
use super::policy::{TablePolicy, format_utc};

/// The `details` of a retention pass's table report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetentionDetails {
    /// Whether nothing was changed (everything below is what would be done).
    pub dry_run: bool,
    /// The resolved policy and cutoff.
    pub policy: TablePolicy,
    /// How many `hour` partitions were checked against the cutoff.
    pub partitions_evaluated: usize,
    /// Their labels, oldest first.
    pub evaluated_hours: Vec<String>,
    /// The partitions dropped (in a dry run: that would be dropped), oldest first.
    pub partitions_dropped: Vec<Partition>,
    /// Rows removed from the live table by the drop.
    pub rows_removed: u64,
    /// Bytes of the files removed from the live table by the drop.
    pub bytes_removed: u64,
    /// Files (data and delete) removed from the live table by the drop.
    pub files_removed: u64,
    /// The `delete` snapshot of the drop, when one was committed.
    pub drop_snapshot_id: Option<i64>,
    /// Partitions and files left alone, and why.
    pub skipped: Vec<Skipped>,
    /// The snapshots expired (in a dry run: that would be expired), oldest first.
    pub snapshots_expired: Vec<ExpiredSnapshot>,
    /// Snapshots left in the table's metadata (in a dry run: that would be left).
    pub snapshots_kept: usize,
    /// Commit attempts lost to another writer, drop and expiration together.
    pub conflicts: u32,
    /// Work left for the next pass: given up because every commit attempt lost to other
    /// writers, or not started because the pass was cancelled.
    pub deferred: Vec<String>,
    /// Seconds the table's pass took.
    pub duration_secs: f64,
}

impl RetentionDetails {
    /// What the pass committed: the drop's files, bytes and partitions, and the snapshots
    /// it committed or expired; nothing for a dry run.
    pub fn changes(&self) -> crate::changes::Changes {
        if self.dry_run {
            return crate::changes::Changes::default();
        }
        crate::changes::Changes {
            files_removed: self.files_removed,
            bytes_removed: self.bytes_removed,
            partitions: self.partitions_dropped.len() as u64,
            snapshots: self.snapshots_expired.len() as u64
                + u64::from(self.drop_snapshot_id.is_some()),
            ..crate::changes::Changes::default()
        }
    }

    /// Whether the pass found nothing to do on the table: no partition to drop, no snapshot
    /// to expire, nothing deferred or lost to another writer. (Partitions expire with time
    /// alone; the pass's full check loads the table again for that.)
    pub fn idle(&self) -> bool {
        self.partitions_dropped.is_empty()
            && self.snapshots_expired.is_empty()
            && self.drop_snapshot_id.is_none()
            && self.deferred.is_empty()
            && self.conflicts == 0
    }

    /// Details with nothing done yet, for `policy`.
    pub fn new(policy: TablePolicy, dry_run: bool) -> Self {
        Self {
            dry_run,
            policy,
            partitions_evaluated: 0,
            evaluated_hours: Vec::new(),
            partitions_dropped: Vec::new(),
            rows_removed: 0,
            bytes_removed: 0,
            files_removed: 0,
            drop_snapshot_id: None,
            skipped: Vec::new(),
            snapshots_expired: Vec::new(),
            snapshots_kept: 0,
            conflicts: 0,
            deferred: Vec::new(),
            duration_secs: 0.0,
        }
    }

    /// Records `partitions` as the dropped ones and totals what they held.
    pub fn set_dropped(&mut self, partitions: Vec<Partition>) {
        self.rows_removed = partitions.iter().map(|p| p.rows).sum();
        self.bytes_removed = partitions.iter().map(|p| p.bytes).sum();
        self.files_removed = partitions.iter().map(|p| p.data_files + p.delete_files).sum();
        self.partitions_dropped = partitions;
    }

    /// Whether the pass changed the table: a partition drop or expired snapshots committed.
    pub fn changed_table(&self) -> bool {
        !self.dry_run && (self.drop_snapshot_id.is_some() || !self.snapshots_expired.is_empty())
    }

    /// The one-line summary of the table's pass.
    pub fn summary(&self) -> String {
        let (drop, expire) =
            if self.dry_run { ("would drop", "would expire") } else { ("dropped", "expired") };
        let p = &self.policy;
        let mut out = format!(
            "{drop} {} of {} partitions ({} rows, {} bytes), {expire} {} snapshot(s); \
             {} kept {} days ({} tier), cutoff {}",
            self.partitions_dropped.len(),
            self.partitions_evaluated,
            self.rows_removed,
            self.bytes_removed,
            self.snapshots_expired.len(),
            p.signal.as_str(),
            p.days,
            p.tier,
            format_utc(p.cutoff)
        );
        if !self.deferred.is_empty() {
            out.push_str(&format!(
                "; deferred after {} conflict(s): {}",
                self.conflicts,
                self.deferred.join(", ")
            ));
        }
        if !self.skipped.is_empty() {
            let files: u64 = self.skipped.iter().map(|s| s.files).sum();
            out.push_str(&format!("; {files} file(s) skipped"));
        }
        out
    }

    /// The indented lines the text report prints under the table's summary.
    pub fn render_lines(&self, out: &mut String) {
        let p = &self.policy;
        let verb = if self.dry_run { "to drop" } else { "dropped" };
        let _ = writeln!(
            out,
            "      policy: {} kept {} days ({} tier), grace {} h",
            p.signal.as_str(),
            p.days,
            p.tier,
            p.grace_period_hours
        );
        let _ = writeln!(
            out,
            "      cutoff: {} ({}) = {}",
            p.cutoff_local,
            p.timezone,
            format_utc(p.cutoff)
        );
        let labels: Vec<&str> =
            self.partitions_dropped.iter().map(|d| d.hour_label.as_str()).collect();
        let _ = writeln!(
            out,
            "      partitions: {} evaluated, {} {verb}{}{}",
            self.partitions_evaluated,
            labels.len(),
            if labels.is_empty() { "" } else { ": " },
            labels.join(", ")
        );
        let _ = writeln!(
            out,
            "      removed from the live table: {} rows, {} bytes in {} data file(s)",
            self.rows_removed, self.bytes_removed, self.files_removed
        );
        for s in &self.skipped {
            let what = match &s.hour_label {
                Some(label) => format!("partition {label}"),
                None => format!("partition spec(s) {:?}", s.spec_ids),
            };
            let reason = s.reason.as_str();
            let _ = writeln!(out, "      skipped {} file(s) of {what}: {reason}", s.files);
        }
        let ids: Vec<String> =
            self.snapshots_expired.iter().map(|s| s.snapshot_id.to_string()).collect();
        let listed = if ids.is_empty() { String::new() } else { format!(" ({})", ids.join(", ")) };
        let _ = writeln!(
            out,
            "      snapshots: {} {}{listed}, {} kept",
            ids.len(),
            if self.dry_run { "to expire" } else { "expired" },
            self.snapshots_kept
        );
    }
}
