//! Reading tables back with pyiceberg (`scripts/pyiceberg_read.py`), an Iceberg implementation
//! that shares no code with ours: what it reads, other clients can read.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::env::TestEnv;
use crate::require::require_python;
use crate::workspace::workspace_root;

/// Reads the given tables (`tenant.dataset.table`) of `env` with pyiceberg and returns the
/// script's whole JSON output: `{"catalog_name", "namespaces", "tables": {ident: {...}}}`.
///
/// Each table reports `exists`, `total_rows`, `rows_per_hour` (`YYYY-MM-DD-HH` → rows, from the
/// `timestamp` column, UTC), `live_data_files` and `data_files` (`inspect.files()`),
/// `snapshot_count`, `schema_fields`, `partition_fields` (`name`, `transform`, `source`),
/// `format_version`, `namespace_tables` and `rows_sha256` (order-independent digest of the rows).
///
/// Call [`require_python`] first so a run without Python skips rather than fails here.
#[track_caller]
pub fn run_pyiceberg(env: &TestEnv, tables: &[String]) -> Value {
    run_pyiceberg_script(env, "scripts/pyiceberg_read.py", tables)
}

/// Imports `files` Parquet files without Iceberg field ids into `table` (`tenant.dataset.table`
/// of `env`) with pyiceberg's `add_files`, which sets the table's name mapping: a copy of the
/// table's rows of `hour` (`YYYY-MM-DD-HH`). Returns `{"files": [paths], "rows": n}`
/// (`tests-integration/src/pyiceberg_import.py`).
#[track_caller]
pub fn import_files_without_ids(env: &TestEnv, table: &str, hour: &str, files: usize) -> Value {
    let args = ["--hour".to_string(), hour.to_string(), "--files".to_string(), files.to_string()];
    run_pyiceberg_script_with(
        env,
        "tests-integration/src/pyiceberg_import.py",
        &[table.to_string()],
        &args,
    )
}

/// Runs a pyiceberg reader script (path relative to the workspace root) against `env`'s catalog
/// with `--table` for each of `tables` and returns the one JSON document it prints.
///
/// Call [`require_python`] first so a run without Python skips rather than fails here.
#[track_caller]
pub fn run_pyiceberg_script(env: &TestEnv, script: &str, tables: &[String]) -> Value {
    run_pyiceberg_script_with(env, script, tables, &[])
}

/// [`run_pyiceberg_script`] with `args` after the connection and table arguments.
///
/// Call [`require_python`] first so a run without Python skips rather than fails here.
#[track_caller]
pub fn run_pyiceberg_script_with(
    env: &TestEnv,
    script: &str,
    tables: &[String],
    args: &[String],
) -> Value {
    let python = require_python()
        .expect("pyiceberg needs Python: gate the test with require_python() first");
    let conn = env.pyiceberg();
    let mut cmd = Command::new(&python);
    cmd.arg(workspace_root().join(script))
        .args(["--catalog-name", &conn.catalog_name, "--uri", &conn.uri])
        .args(["--warehouse", &conn.warehouse]);
    for (key, value) in &conn.props {
        cmd.arg("--prop").arg(format!("{key}={value}"));
    }
    for table in tables {
        cmd.args(["--table", table]);
    }
    cmd.args(args);
    json_of(cmd, script, env)
}

/// Runs `cmd` (the Python `script` of `env`'s test) with no stdin and returns the one JSON
/// document it prints; panics, with both of its streams, when it fails or prints no JSON.
#[track_caller]
pub(crate) fn json_of(mut cmd: Command, script: &str, env: &TestEnv) -> Value {
    let output =
        cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("running {script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}) on {} env\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status,
        env.backend()
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e})\n{stdout}\n{stderr}"))
}

/// Reads one table with pyiceberg; returns its object from [`run_pyiceberg`]'s `tables`.
#[track_caller]
pub fn run_pyiceberg_read(env: &TestEnv, tenant: &str, dataset: &str, table: &str) -> Value {
    let ident = format!("{tenant}.{dataset}.{table}");
    let mut all = run_pyiceberg(env, std::slice::from_ref(&ident));
    all["tables"][&ident].take()
}
