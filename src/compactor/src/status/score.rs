//! The health score of one table: 100, less a named number of points for each sign of neglect
//! (Amoro's idea of a table health score: small files, delete files and metadata growth each
//! cost points), with one typed [`Reason`] per deduction.
//!
//! Pure: it reads what [`super::gather`] collected and the configuration, never the catalog.

use std::fmt;

use chrono::{DateTime, Utc};
use common::config::CompactorConfig;
use serde::{Serialize, Serializer};

use crate::state::{RunOutcome, RunRecord};
use crate::table_state::TableState;
use crate::warnings::{UNMERGED_MANIFESTS, Warning, cutoff_hour};

/// A table is healthy while its score is at least this.
pub(crate) const HEALTHY_SCORE: u8 = 70;

/// The points each deduction costs, out of 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Weights {
    /// The table's metadata cannot be read: every point.
    pub(crate) unreadable: u32,
    /// The compactor cannot maintain the table (no time partition it understands).
    pub(crate) not_maintainable: u32,
    /// Small files in closed partitions that compaction could merge: at most this, in
    /// proportion to all data files.
    pub(crate) small_file_backlog: u32,
    /// Live delete files: at most this, in proportion to data files.
    pub(crate) delete_files: u32,
    /// More manifests than `max(manifest_merge_min_count, 100)`.
    pub(crate) manifests: u32,
    /// More snapshots than twice `snapshots_to_keep`.
    pub(crate) snapshots: u32,
    /// Each warning sign that fires.
    pub(crate) warning: u32,
    /// Each enabled job whose newest pass failed.
    pub(crate) failed_pass: u32,
    /// Part of the status (the run history, say) could not be read.
    pub(crate) partly_unreadable: u32,
}

/// The weights `compactor status` scores with.
pub(crate) const WEIGHTS: Weights = Weights {
    unreadable: 100,
    not_maintainable: 50,
    small_file_backlog: 40,
    delete_files: 20,
    manifests: 15,
    snapshots: 10,
    warning: 20,
    failed_pass: 15,
    partly_unreadable: 10,
};

/// What a deduction is for: one kind per named weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deduction {
    /// The table's metadata cannot be read.
    Unreadable,
    /// The compactor cannot maintain the table.
    NotMaintainable,
    /// Small files in closed partitions wait for compaction.
    SmallFileBacklog,
    /// Live delete files wait to be applied.
    DeleteFiles,
    /// Too many manifests.
    Manifests,
    /// Too many snapshots.
    Snapshots,
    /// A warning sign fires; the warning itself is listed with the table's warnings.
    Warning,
    /// An enabled job's newest pass failed.
    FailedPass,
    /// Part of the status could not be read.
    PartlyUnreadable,
}

/// One deduction: its kind, the points it cost and why. Shown (and serialised) as
/// `-<points>: <detail>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// What it is for.
    pub deduction: Deduction,
    /// Points lost.
    pub points: u32,
    /// What was found, in words.
    pub detail: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-{}: {}", self.points, self.detail)
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A health score from 0 to 100 and what lowered it.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// 100 is perfect; below [`HEALTHY_SCORE`] is unhealthy.
    pub score: u8,
    /// Whether the score is at least [`HEALTHY_SCORE`].
    pub healthy: bool,
    /// One per deduction, in the order they were made.
    pub reasons: Vec<Reason>,
}

/// What one table's score is computed from.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Facts<'a> {
    /// Its committed state; `None` when it could not be read.
    pub(crate) state: Option<&'a TableState>,
    /// The newest pass of each enabled job.
    pub(crate) last_runs: &'a [&'a RunRecord],
    /// The warning signs that fire.
    pub(crate) warnings: &'a [Warning],
    /// What could not be read, when something could not.
    pub(crate) error: Option<&'a str>,
}

/// The health of the table `facts` describe, under configuration `c` at `now`, scored with
/// [`WEIGHTS`].
pub(crate) fn health(c: &CompactorConfig, facts: &Facts<'_>, now: DateTime<Utc>) -> Health {
    let weights = &WEIGHTS;
    let mut reasons = Vec::new();
    let mut lose = |deduction: Deduction, points: u32, detail: String| {
        if points > 0 {
            reasons.push(Reason { deduction, points, detail });
        }
    };
    let Some(state) = facts.state else {
        let error = facts.error.unwrap_or("unknown error");
        let detail = format!("the table cannot be read: {error}");
        lose(Deduction::Unreadable, weights.unreadable, detail);
        return Health { score: 0, healthy: false, reasons };
    };
    if let Some(reason) = &state.not_maintainable {
        let detail = format!("the compactor cannot maintain the table: {reason}");
        lose(Deduction::NotMaintainable, weights.not_maintainable, detail);
    }
    // Small files in closed partitions with enough of them to compact: compaction's backlog.
    let quiet = chrono::Duration::from_std(c.quiet_period()).unwrap_or(chrono::Duration::zero());
    let closed = cutoff_hour(now - quiet);
    let backlog: u64 = state
        .ended_by(closed)
        .filter(|h| h.small_files >= c.min_input_files as u64)
        .map(|h| h.small_files)
        .sum();
    if state.data_files > 0 && backlog > 0 {
        let ratio = backlog as f64 / state.data_files as f64;
        lose(
            Deduction::SmallFileBacklog,
            proportion(weights.small_file_backlog, ratio),
            format!(
                "{backlog} small files in closed partitions are waiting for compaction ({:.0}% of \
                 the data files)",
                100.0 * ratio
            ),
        );
    }
    if state.delete_files > 0 {
        let ratio = (state.delete_files as f64 / state.data_files.max(1) as f64).min(1.0);
        lose(
            Deduction::DeleteFiles,
            proportion(weights.delete_files, ratio),
            format!(
                "{} delete files ({} rows) in {} partitions for {} data files; compaction applies \
                 them when it rewrites their data files",
                state.delete_files,
                state.delete_rows,
                state.deletes_by_partition.len(),
                state.data_files
            ),
        );
    }
    let manifest_limit = (c.manifest_merge_min_count as u64).max(UNMERGED_MANIFESTS);
    if state.manifests > manifest_limit {
        let detail = format!("{} manifests (more than {manifest_limit})", state.manifests);
        lose(Deduction::Manifests, weights.manifests, detail);
    }
    let snapshot_limit = 2 * c.retention.snapshots_to_keep.max(1) as u64;
    if state.snapshots > snapshot_limit {
        let detail = format!("{} snapshots (more than {snapshot_limit})", state.snapshots);
        lose(Deduction::Snapshots, weights.snapshots, detail);
    }
    for w in facts.warnings {
        lose(Deduction::Warning, weights.warning, format!("warning {}", w.check));
    }
    for run in facts.last_runs.iter().filter(|r| r.outcome == RunOutcome::Failure) {
        let error = run.error.as_deref().unwrap_or("no error recorded");
        let detail = format!("the last {} pass failed: {error}", run.job);
        lose(Deduction::FailedPass, weights.failed_pass, detail);
    }
    if let Some(error) = facts.error {
        let detail = format!("part of the status could not be read: {error}");
        lose(Deduction::PartlyUnreadable, weights.partly_unreadable, detail);
    }
    let lost: i64 = reasons.iter().map(|r| i64::from(r.points)).sum();
    let score = (100 - lost).clamp(0, 100) as u8;
    Health { score, healthy: score >= HEALTHY_SCORE, reasons }
}

/// `ratio` of `weight`, rounded up: any share at all costs at least a point.
fn proportion(weight: u32, ratio: f64) -> u32 {
    (f64::from(weight) * ratio).ceil() as u32
}

#[cfg(test)]
mod tests;
