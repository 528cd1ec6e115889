//! Reading tables back with Apache Spark and Iceberg's Java runtime (`spark_read.py`), the
//! reference implementation: what it reads as pyiceberg and DuckDB do, every Iceberg engine
//! can read.

use serde_json::Value;

use crate::env::TestEnv;
use crate::pyiceberg::run_pyiceberg_script_with;
use crate::require::require_spark;

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
    spark_sql_then_read(env, jars, &[], tables)
}

/// [`read_with_spark`] after running the Spark SQL `statements` in order in the same session
/// (writes, `ALTER TABLE`s: another engine at work on our tables).
#[track_caller]
pub fn spark_sql_then_read(
    env: &TestEnv,
    jars: &str,
    statements: &[&str],
    tables: &[String],
) -> Value {
    let mut args = vec!["--jars".to_string(), jars.to_string()];
    for statement in statements {
        args.extend(["--sql".to_string(), statement.to_string()]);
    }
    run_pyiceberg_script_with(env, SCRIPT, tables, &args)
}

/// Checks that Spark reads the table `ident` (`tenant.dataset.table`) of `env` with the content
/// digest `digest` (pyiceberg's `rows_sha256`), after `what`. Only on a local warehouse (Spark
/// has no S3 FileIO here); elsewhere, and where [`require_spark`] skips, it checks nothing.
#[track_caller]
pub fn assert_spark_reads(env: &TestEnv, ident: &str, digest: &Value, what: &str) {
    if !env.warehouse_uri().starts_with("file://") {
        return;
    }
    let Some(jars) = require_spark() else { return };
    let spark = read_with_spark(env, &jars, &[ident.to_string()]);
    assert_eq!(&spark["tables"][ident]["rows_sha256"], digest, "Spark after {what}: {spark}");
}
