//! `compactor status`: every table's health at a glance, from its committed metadata and the
//! run history in the catalog database; nothing is changed.
//!
//! Per table: files, small files, average file size against the target, manifests, snapshots,
//! oldest partition against its retention cutoff and the bytes past it, the last pass of each
//! job, the warning signs that fire ([`crate::warnings`]) and a health score with its reasons.
//!
//! Three parts: `gather` reads (the only I/O), `score` computes the health score from what was
//! read (pure, each deduction's points a named weight), `render` prints the human form; `report` holds the data
//! they share, which `--json` serialises.

mod gather;
pub(crate) mod render;
pub(crate) mod report;
mod score;

#[cfg(test)]
use gather::status;
pub(crate) use gather::status_through;
#[cfg(test)]
pub(crate) use render::render;
pub(crate) use report::StatusReport;

#[cfg(test)]
mod tests;
