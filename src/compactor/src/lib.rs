//! The SignalDB compactor: keeps the Iceberg tables of every tenant and dataset small, fast
//! and bounded.
//!
//! Data flows one way:
//!
//! ```text
//! signaldb.toml + SIGNALDB_* env ──► common::config::Config (validated once)
//!   ──► service (the one place that opens the catalog and object store and builds the jobs)
//!   ──► scheduler (knows WHEN a job runs)  /  one-shot commands (run a job now)
//!   ──► jobs (know WHAT a pass does: compaction, retention, orphan cleanup)
//!   ──► Iceberg SQL catalog + object store
//! ```
//!
//! Metrics, health and the HTTP endpoints are assembled in the service, around the jobs.

pub mod compaction;
pub mod health;
pub mod http;
pub mod job;
pub mod jobs;
pub mod lifecycle;
pub mod live_files;
pub mod metrics;
pub mod orphan;
pub mod retention;
pub mod scheduler;
pub mod service;
pub mod snapshot;
pub mod tables;

#[cfg(test)]
pub(crate) mod test_support;
