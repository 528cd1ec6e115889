//! Orphan-file cleanup: delete files under a table's location that no snapshot references.
//!
//! Per table, four phases (see `docs/orphan-cleanup.md`):
//!
//! 1. [`reference`]: every file reachable from the table metadata, from every snapshot still
//!    in it whatever its age, plus manifests, manifest lists, metadata files and statistics;
//! 2. [`scan`]: a streaming listing under the table's location only;
//! 3. [`candidates`]: listed files the reference set does not reach, older than the grace
//!    period, with paths compared in one normalised spelling ([`paths`]);
//! 4. [`delete`]: batches, each revalidated against freshly loaded metadata and followed by a
//!    checkpoint in the catalog database ([`crate::state::Checkpoints`]).
//!
//! [`safety`] refuses tables whose location overlaps another table's or leaves the warehouse.
//! [`OrphanCleanupStep`] is the job's work on one table; its typed outcome is
//! [`report::OrphanReport`].

pub(crate) mod candidates;
pub(crate) mod delete;
mod error;
pub(crate) mod paths;
pub(crate) mod reference;
pub(crate) mod report;
pub(crate) mod safety;
pub(crate) mod scan;
pub(crate) mod settings;
pub(crate) mod step;

#[cfg(test)]
mod tests;

pub(crate) use settings::OrphanSettings;
pub(crate) use step::OrphanCleanupStep;
