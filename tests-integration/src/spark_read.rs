//! Reading tables back with Apache Spark and Iceberg's Java runtime (`spark_read.py`), the
//! reference implementation: what it reads as pyiceberg and DuckDB do, every Iceberg engine
//! can read.

use serde_json::Value;

use crate::env::TestEnv;
use crate::pyiceberg::run_pyiceberg_script_with;

const SCRIPT: &str = "tests-integration/src/spark_read.py";

/// Reads `tables` (`tenant.dataset.table`) of `env` in one Spark session through Iceberg's
/// JdbcCatalog on the same catalog database and returns the script's JSON document:
/// `{"tables": {ident: {"total_rows", "rows_per_hour", "rows_sha256", "snapshot_id"}}}`, the
/// digest computed as `scripts/pyiceberg_read.py`'s `rows_sha256`.
///
/// `jars` is what [`require_spark`](crate::require::require_spark) returned; local warehouses
/// only.
#[track_caller]
pub fn read_with_spark(env: &TestEnv, jars: &str, tables: &[String]) -> Value {
    run_pyiceberg_script_with(env, SCRIPT, tables, &["--jars".to_string(), jars.to_string()])
}
