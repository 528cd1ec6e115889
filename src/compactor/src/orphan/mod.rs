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

pub mod candidates;
pub mod delete;
mod error;
pub mod paths;
pub mod reference;
pub mod report;
pub mod safety;
pub mod scan;
mod settings;
mod step;

#[cfg(test)]
mod tests;

pub use error::OrphanError;
pub use settings::OrphanSettings;
pub use step::{OrphanCleanupStep, Plan};
