//! Which external services this test run has.
//!
//! `scripts/test.sh` starts moto (S3) and checks PostgreSQL, then exports:
//!
//! | variable                     | meaning                                              |
//! |------------------------------|------------------------------------------------------|
//! | `SIGNALDB_TEST_PG_URL`       | admin URL of a PostgreSQL server (`.../test`)        |
//! | `SIGNALDB_TEST_S3_ENDPOINT`  | `http://127.0.0.1:PORT` of moto's S3 server          |
//! | `SIGNALDB_TEST_S3_BUCKET`    | bucket that exists on it (default `signaldb-test`)   |
//! | `SIGNALDB_TEST_PYTHON`       | Python with pyiceberg, moto, psycopg2, duckdb        |
//! | `SIGNALDB_TEST_PROMTOOL`     | Prometheus's `promtool` (Debian package `prometheus`) |
//! | `SIGNALDB_TEST_LIBFAKETIME`  | `libfaketime.so.1` (Debian package `faketime`)       |
//! | `SIGNALDB_TEST_SPARK_JARS`   | the jars of a Spark session with Iceberg (comma-separated) |
//! | `SIGNALDB_TEST_CHROMIUM`     | headless Chromium (Debian package `chromium`)        |
//!
//! Each `require_*` returns `None` when its service is missing, after printing a loud
//! `SKIPPED:` line; the test then returns early. Under `CI=true` a missing service is a test
//! failure instead, so CI can never pass by skipping.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use crate::workspace::workspace_root;

/// Admin URL used when `SIGNALDB_TEST_PG_URL` is unset and a server answers there.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Bucket used when `SIGNALDB_TEST_S3_BUCKET` is unset.
pub const DEFAULT_S3_BUCKET: &str = "signaldb-test";

/// An S3-compatible endpoint with a bucket the tests may write under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// An existing bucket.
    pub bucket: String,
    /// Region to sign requests for.
    pub region: String,
    /// Access key (`AWS_ACCESS_KEY_ID`, `testing` for moto).
    pub access_key_id: String,
    /// Secret key (`AWS_SECRET_ACCESS_KEY`, `testing` for moto).
    pub secret_access_key: String,
}

/// True when running under CI (`CI=true`), where no service may be skipped.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Handles a missing service: fails under CI, otherwise prints `SKIPPED:` and returns `None`.
///
/// The line is written straight to the process's stderr, past the test harness's capture, so
/// it shows up in a normal `cargo test` run.
pub fn skip<T>(service: &str, why: &str) -> Option<T> {
    let test = std::thread::current().name().unwrap_or("<unnamed test>").to_string();
    if is_ci() {
        panic!("{service} is required under CI=true ({why}); run scripts/test.sh");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test}: {service} not available ({why}); run scripts/test.sh to include it"
    );
    None
}

/// The PostgreSQL admin URL, or `None` (test skipped) when there is none.
///
/// Uses `SIGNALDB_TEST_PG_URL`; outside CI, falls back to [`DEFAULT_PG_URL`] when something
/// listens on 127.0.0.1:5432.
pub fn require_postgres() -> Option<String> {
    if let Some(url) = non_empty_var("SIGNALDB_TEST_PG_URL") {
        return Some(url);
    }
    if !is_ci() && port_open("127.0.0.1:5432") {
        return Some(DEFAULT_PG_URL.to_string());
    }
    skip("PostgreSQL", "SIGNALDB_TEST_PG_URL is not set")
}

/// The S3 endpoint and bucket, or `None` (test skipped) when `SIGNALDB_TEST_S3_ENDPOINT` is unset.
///
/// Credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (moto accepts any;
/// `testing` when unset), the region from `AWS_REGION` (default `us-east-1`).
pub fn require_s3() -> Option<S3Target> {
    let Some(endpoint) = non_empty_var("SIGNALDB_TEST_S3_ENDPOINT") else {
        return skip("S3 (moto)", "SIGNALDB_TEST_S3_ENDPOINT is not set");
    };
    Some(S3Target {
        endpoint,
        bucket: non_empty_var("SIGNALDB_TEST_S3_BUCKET").unwrap_or(DEFAULT_S3_BUCKET.into()),
        region: non_empty_var("AWS_REGION").unwrap_or("us-east-1".into()),
        access_key_id: non_empty_var("AWS_ACCESS_KEY_ID").unwrap_or("testing".into()),
        secret_access_key: non_empty_var("AWS_SECRET_ACCESS_KEY").unwrap_or("testing".into()),
    })
}

/// The Python interpreter that has pyiceberg, or `None` (test skipped).
///
/// Uses `SIGNALDB_TEST_PYTHON`; outside CI, falls back to `.venv-test/bin/python` left by an
/// earlier `scripts/test.sh`.
pub fn require_python() -> Option<PathBuf> {
    if let Some(python) = non_empty_var("SIGNALDB_TEST_PYTHON") {
        return Some(PathBuf::from(python));
    }
    let venv = workspace_root().join(".venv-test/bin/python");
    if !is_ci() && venv.exists() {
        return Some(venv);
    }
    skip("Python with pyiceberg", "SIGNALDB_TEST_PYTHON is not set")
}

/// Prometheus's `promtool`, from `SIGNALDB_TEST_PROMTOOL` (or, outside CI, `PATH`).
pub fn require_promtool() -> Option<PathBuf> {
    installed("promtool", "SIGNALDB_TEST_PROMTOOL", "/usr/bin/promtool")
}

/// The jars a Spark session with Iceberg needs (the Iceberg runtime, the SQLite and PostgreSQL
/// JDBC drivers), comma-separated, or `None` (test skipped) when Spark is not set up.
pub fn require_spark() -> Option<String> {
    require_python()?;
    match non_empty_var("SIGNALDB_TEST_SPARK_JARS") {
        Some(jars) => Some(jars),
        None => skip("Spark", "SIGNALDB_TEST_SPARK_JARS is not set"),
    }
}

/// The Prometheus server, beside `promtool` (Debian's `prometheus` package ships both).
pub fn require_prometheus() -> Option<PathBuf> {
    let promtool = require_promtool()?;
    let server = promtool.with_file_name("prometheus");
    if server.exists() {
        return Some(server);
    }
    skip("the Prometheus server", &format!("{} does not exist", server.display()))
}

/// Where Debian's `faketime` package puts the library (the default outside CI).
pub const DEFAULT_LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// libfaketime (`LD_PRELOAD`ed to run a binary on a skewed clock), from
/// `SIGNALDB_TEST_LIBFAKETIME` (or, outside CI, [`DEFAULT_LIBFAKETIME`] when it exists).
pub fn require_libfaketime() -> Option<PathBuf> {
    installed("libfaketime", "SIGNALDB_TEST_LIBFAKETIME", DEFAULT_LIBFAKETIME)
}

/// Where Debian's `chromium` package puts the browser (the default outside CI).
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// Headless Chromium, from `SIGNALDB_TEST_CHROMIUM` (or, outside CI, [`DEFAULT_CHROMIUM`]
/// when it exists).
pub fn require_chromium() -> Option<PathBuf> {
    installed("Chromium", "SIGNALDB_TEST_CHROMIUM", DEFAULT_CHROMIUM)
}

/// A file `scripts/test.sh` installs: the path in `var`, or, outside CI, `default` when it
/// exists; otherwise `None` (test skipped), a failure under CI.
fn installed(service: &str, var: &str, default: &str) -> Option<PathBuf> {
    if let Some(path) = non_empty_var(var) {
        return Some(PathBuf::from(path));
    }
    let default = PathBuf::from(default);
    if !is_ci() && default.exists() {
        return Some(default);
    }
    skip(service, &format!("{var} is not set"))
}

fn port_open(addr: &str) -> bool {
    let addr: SocketAddr = addr.parse().expect("literal socket address");
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}
