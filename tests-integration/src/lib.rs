//! Fixtures for SignalDB's end-to-end tests.
//!
//! The tests themselves live in `tests/main.rs` (one test binary, so everything links once).
//! What they need from here:
//!
//! - [`require`]: which external services this run has. `scripts/test.sh` starts them and
//!   exports `SIGNALDB_TEST_*`; without it a test that needs a missing service prints a loud
//!   `SKIPPED:` line and returns, except under `CI=true`, where it fails.
//! - [`TestEnv`]: a throwaway warehouse and catalog on one [`Backend`] (temp dir, fresh
//!   PostgreSQL database, unique S3 prefix) and the `signaldb.toml` that points the binaries
//!   at it.
//! - [`bins`]: runs the workspace's real binaries against a [`TestEnv`].
//! - [`pyiceberg`]: reads tables back with pyiceberg, an Iceberg reader that is not ours.
//! - [`pyiceberg_hours`]: the same, hour partition by hour partition (rows, digest, files).
//! - [`pyiceberg_snapshots`]: the same, snapshot by snapshot (rows read by snapshot id, summaries,
//!   every metadata file of the metadata log).
//! - [`iceberg_read`]: reads them with iceberg-rust through the `common` crate.
//! - [`duckdb_read`]: reads a table's metadata file with DuckDB's iceberg extension, at the
//!   current snapshot or an older one.
//! - [`fault_proxy`]: a loopback HTTP proxy in front of S3 that injects errors, latency and cuts.
//! - [`http`]: a loopback HTTP client that sends requests exactly as built, and free ports, for
//!   the services' HTTP endpoints.
//! - [`chromium`]: headless Chromium: a page's DOM, a screenshot, a page driven by clicks
//!   (`browser.py`, the DevTools protocol over a pipe); [`html`]: reading the DOM it dumps.
//! - [`metrics_text`]: a strict reader of Prometheus `/metrics` pages.
//! - [`openapi`]: the admin API's OpenAPI document and answers checked by openapi-spec-validator
//!   and openapi-schema-validator.
//! - [`private_pg`]: a PostgreSQL server of the test's own (`initdb` + `pg_ctl` on a free
//!   loopback port) that it can crash and restart.
//! - [`tcp_proxy`]: a loopback TCP proxy in front of PostgreSQL that cuts the connection of the
//!   catalog's compare-and-swap, before or after the server ran it.
//! - [`hours`]: hour labels; [`workspace_root`]: where the workspace is.

pub mod bins;
pub mod chromium;
pub mod duckdb_read;
pub mod env;
pub mod fault_proxy;
pub mod hours;
pub mod html;
pub mod http;
pub mod iceberg_read;
pub mod metrics_text;
pub mod openapi;
pub mod orphans;
pub mod private_pg;
pub mod pyiceberg;
pub mod pyiceberg_hours;
pub mod pyiceberg_snapshots;
pub mod require;
pub mod retention;
pub mod signaldb_layout;
pub mod spark_read;
pub mod tcp_proxy;
pub mod workspace;

pub use bins::{BinChild, BinCommand, BinOutput, run_bin, spawn_bin};
pub use env::{Backend, PyIcebergConnection, TestEnv};
pub use hours::{hour_label, hour_label_of_micros, hour_of_micros, hours_ending_at};
pub use pyiceberg::{run_pyiceberg, run_pyiceberg_read};
pub use require::{
    S3Target, require_chromium, require_libfaketime, require_postgres, require_prometheus,
    require_promtool, require_python, require_s3, require_spark,
};
pub use workspace::workspace_root;
