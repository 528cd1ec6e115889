//! The SignalDB compactor: keeps the Iceberg tables of every tenant and dataset small, fast
//! and bounded.
//!
//! Data flows one way:
//!
//! ```text
//! signaldb.toml + SIGNALDB_* env ──► common::config::Config (validated once)
//!   ──► assembly (the only place that turns the config into jobs, specs and schedules)
//!   ──► scheduler (knows WHEN a job runs)  /  one-shot commands (run a job now)
//!   ──► pass (a pass over the tables in scope: load, gauges, step, per-table report)
//!   ──► steps (know WHAT a job does to one table: compaction, retention, orphan cleanup),
//!       each wrapped in its metrics (metered)
//!   ──► snapshot (the one commit path) ──► Iceberg SQL catalog + object store
//! ```
//!
//! `docs/architecture.md` has the module map and what each module may not touch.

pub mod assembly;
pub mod changes;
pub mod compaction;
pub mod delete_index;
pub mod failure;
pub mod health;
pub mod http;
pub mod instance;
pub mod job;
pub mod live_files;
pub mod log_target;
pub mod metered;
pub mod metrics;
pub mod orphan;
pub mod pass;
pub mod render;
pub mod report;
pub mod retention;
pub mod retention_cycle;
pub mod scheduler;
pub mod service;
pub mod snapshot;
pub mod state;
pub mod status;
pub mod step;
pub mod table_state;
pub mod time_partition;
pub mod warnings;

#[cfg(test)]
pub(crate) mod test_support;
