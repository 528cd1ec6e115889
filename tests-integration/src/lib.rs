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
//! - [`iceberg_read`]: reads them with iceberg-rust through the `common` crate.
//! - [`http`]: a loopback `GET` and free ports, for the services' HTTP endpoints.
//! - [`metrics_text`]: a strict reader of Prometheus `/metrics` pages.

pub mod bins;
pub mod env;
pub mod http;
pub mod iceberg_read;
pub mod metrics_text;
pub mod orphans;
pub mod pyiceberg;
pub mod pyiceberg_hours;
pub mod require;
pub mod retention;

pub use bins::{BinChild, BinCommand, BinOutput, run_bin, spawn_bin};
pub use env::{Backend, PyIcebergConnection, TestEnv};
pub use pyiceberg::{run_pyiceberg, run_pyiceberg_read};
pub use require::{S3Target, require_postgres, require_python, require_s3};

use std::path::{Path, PathBuf};

/// The workspace root (where `Cargo.toml`, `scripts/` and `target/` normally are).
pub fn workspace_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("tests-integration sits inside the workspace")
            .to_path_buf()
    })
}

/// `YYYY-MM-DD-HH` (UTC) of the hour containing a timestamp in microseconds.
pub fn hour_label_of_micros(micros: i64) -> String {
    hour_label(hour_of_micros(micros))
}

pub use common::partition::{hour_label, hour_of_micros};

/// Labels of the `n` whole UTC hours ending with the hour that contains `end` (oldest first):
/// the hours `signaldb-loadgen --hours n --end-time end` fills.
pub fn hours_ending_at(end: chrono::DateTime<chrono::Utc>, n: i64) -> Vec<String> {
    let last = end.timestamp().div_euclid(3600);
    (last - n + 1..=last).map(hour_label).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_labels_are_utc_and_zero_padded() {
        assert_eq!(hour_label(0), "1970-01-01-00");
        assert_eq!(hour_label_of_micros(3_600_000_000 * 25 - 1), "1970-01-02-00");
        assert_eq!(hour_label_of_micros(-1), "1969-12-31-23");
    }

    #[test]
    fn loadgen_hours_end_with_the_hour_of_end_time() {
        let end = "2026-01-15T12:00:00Z".parse().unwrap();
        assert_eq!(hours_ending_at(end, 3), ["2026-01-15-10", "2026-01-15-11", "2026-01-15-12"]);
        let end = "2026-01-15T00:59:59Z".parse().unwrap();
        assert_eq!(hours_ending_at(end, 2), ["2026-01-14-23", "2026-01-15-00"]);
    }
}
