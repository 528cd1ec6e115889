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

// Everything is crate-private unless listed below: what the binaries, the benchmarks and the
// integration tests use, each by one path.
#![warn(unreachable_pub)]

mod admin;
mod assembly;
mod changes;
mod compaction;
mod delete_index;
mod failure;
mod health;
mod http;
mod instance;
mod job;
mod live_files;
pub mod log_target;
mod metered;
mod metrics;
mod orphan;
mod pass;
mod render;
mod report;
mod retention;
mod retention_cycle;
mod scheduler;
mod service;
mod snapshot;
mod state;
mod status;
mod step;
mod table_state;
mod time_partition;
mod warnings;

pub use assembly::orphan_cleanup_job;
pub use assembly::settings::PassSettings;
pub use compaction::execute::execute as execute_plan;
pub use compaction::rewrite::RewriteSettings;
pub use compaction::slots::RewriteSlots;
pub use compaction::{CompactionOutcome, CompactionSettings, CompactionStep};
pub use http::{HEALTHZ_PATH, READYZ_PATH};
pub use job::{JobKind, Scope};
pub use live_files::ManifestCache;
pub use metrics::{Metrics, SPEC_FAMILIES};
pub use orphan::report::OrphanReport;
pub use orphan::settings::OrphanSettings;
pub use orphan::step::OrphanCleanupStep;
pub use pass::Job;
pub use render::{plans as render_plans, retention as render_retention};
pub use report::{JobReport, TableOutcome};
pub use retention::policy::{Explanation, explain as explain_retention_policy};
pub use service::{PROBE_INTERVAL, Service, ServiceError, shutdown_signal};
pub use state::StateStore;
pub use state::leases::Holder;
pub use state::runs::RunRecord;
pub use status::render::render as render_status;
pub use step::TableContext;
pub use warnings::config_warnings;

#[cfg(test)]
pub(crate) mod test_support;
