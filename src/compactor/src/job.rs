//! The maintenance jobs by name ([`JobKind`]), what the configuration says about running each
//! ([`JobSpec`]: enabled, dry run, interval) and what one pass of a job covers ([`Scope`]).
//!
//! Schedulers decide when a job runs, one-shot commands run it once; neither knows what it
//! does (see `crate::pass::Job`).

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use common::Signal;
use common::config::CompactorConfig;
use common::tables::TableId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The three maintenance jobs, in lifecycle order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Merging small files into target-size files.
    Compaction,
    /// Dropping expired partitions and expiring old snapshots.
    Retention,
    /// Deleting files no snapshot references.
    OrphanCleanup,
}

impl JobKind {
    /// Every job, in the order a full lifecycle pass runs them.
    pub const ALL: [JobKind; 3] = [JobKind::Compaction, JobKind::Retention, JobKind::OrphanCleanup];

    /// The `task` metric label value and log name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Compaction => "compaction",
            JobKind::Retention => "retention",
            JobKind::OrphanCleanup => "orphan_cleanup",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the configuration says about running one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobSpec {
    /// Which job.
    pub kind: JobKind,
    /// Whether the daemon schedules it (`enabled` of its section).
    pub enabled: bool,
    /// Its configured `dry_run`: every pass of it only reports.
    pub dry_run: bool,
    /// Time between the starts of two scheduled passes.
    pub interval: Duration,
}

impl JobSpec {
    /// The spec of `kind` in `config`.
    pub(crate) fn of(config: &CompactorConfig, kind: JobKind) -> Self {
        let (enabled, dry_run, interval) = match kind {
            JobKind::Compaction => (config.enabled, config.dry_run, config.compaction_interval()),
            JobKind::Retention => {
                let r = &config.retention;
                (r.enabled, r.dry_run, r.check_interval())
            }
            JobKind::OrphanCleanup => {
                let o = &config.orphan_cleanup;
                (o.enabled, o.dry_run, o.cleanup_interval())
            }
        };
        Self { kind, enabled, dry_run, interval }
    }

    /// The log line of a job whose scheduler is disabled.
    pub(crate) fn disabled_message(&self) -> &'static str {
        match self.kind {
            JobKind::Compaction => "Compaction disabled",
            JobKind::Retention => "Retention enforcement disabled",
            JobKind::OrphanCleanup => "Orphan cleanup disabled",
        }
    }
}

/// Which tables a pass covers and whether it may change anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// Only this tenant's tables, when set.
    pub tenant: Option<String>,
    /// Only this dataset's tables, when set.
    pub dataset: Option<String>,
    /// Only this signal's tables, when set.
    pub signal: Option<Signal>,
    /// Report what would be done and change nothing.
    pub dry_run: bool,
    /// Only these tables, when set (the orphan cleanup that follows retention covers the
    /// tables retention changed).
    #[serde(skip)]
    pub tables: Option<BTreeSet<TableId>>,
}

impl Scope {
    /// This scope, a dry run also when `configured` (a job's configured `dry_run`) is set:
    /// either one makes a pass a dry run.
    pub fn or_dry_run(&self, configured: bool) -> Scope {
        Scope { dry_run: self.dry_run || configured, ..self.clone() }
    }

    /// Whether `table` is inside this scope.
    pub fn contains(&self, table: &TableId) -> bool {
        self.tenant.as_deref().is_none_or(|t| table.tenant == t)
            && self.dataset.as_deref().is_none_or(|d| table.dataset == d)
            && self.signal.is_none_or(|s| table.signal() == s)
            && self.tables.as_ref().is_none_or(|tables| tables.contains(table))
    }
}

#[cfg(test)]
mod tests {
    use common::TableKind;

    use super::*;

    #[test]
    fn scope_filters_each_dimension() {
        let t = TableId::new("acme", "prod", TableKind::Logs).unwrap();
        assert!(Scope::default().contains(&t));
        assert!(Scope { tenant: Some("acme".into()), ..Default::default() }.contains(&t));
        assert!(!Scope { tenant: Some("other".into()), ..Default::default() }.contains(&t));
        assert!(!Scope { dataset: Some("dev".into()), ..Default::default() }.contains(&t));
        assert!(!Scope { signal: Some(Signal::Traces), ..Default::default() }.contains(&t));
        let other = TableId::new("acme", "prod", TableKind::Traces).unwrap();
        let only = Scope { tables: Some(BTreeSet::from([other])), ..Default::default() };
        assert!(!only.contains(&t));
        assert!(Scope { tables: Some(BTreeSet::from([t.clone()])), ..only }.contains(&t));
    }
}
