#!/usr/bin/env python3
"""Reads tables with Apache Spark and Iceberg's Java runtime, the reference implementation.

Usage: spark_read.py --catalog-name NAME --uri SQLALCHEMY_URI --warehouse file:///... \
           --jars JAR,JAR,... [--sql STATEMENT ...] --table TENANT.DATASET.TABLE [--table ...]

One Spark session (local[2], loopback only) opens the same SQL catalog through Iceberg's
JdbcCatalog (`type=jdbc`: SQLite or PostgreSQL, the catalog name our rows carry) and reads each
table, after running the `--sql` statements in order (another engine's writes and schema or
partition changes; the catalog is named as --catalog-name). Prints one JSON document:
    {"tables": {ident: {"total_rows": n, "rows_per_hour": {"YYYY-MM-DD-HH": n},
                        "rows_sha256": hex, "snapshot_id": id}}}
The digest is scripts/pyiceberg_read.py's `rows_sha256` of the rows Spark read (as Arrow), so it
equals pyiceberg's and DuckDB's for the same snapshot. The session runs in UTC. Only local
warehouses: Iceberg's S3 FileIO needs an AWS SDK bundle that is not installed here.
"""

import argparse
import json
import os
import sys
from urllib.parse import unquote, urlparse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import pyiceberg_read as base  # noqa: E402


def jdbc(uri: str) -> tuple:
    """The JDBC URL and credentials of a SQLAlchemy URI."""
    if uri.startswith("sqlite:///"):
        return "jdbc:sqlite:" + uri[len("sqlite:///"):], {}
    parsed = urlparse(uri)
    if parsed.scheme.startswith("postgresql"):
        url = f"jdbc:postgresql://{parsed.hostname}:{parsed.port or 5432}{parsed.path}"
        creds = {"jdbc.user": unquote(parsed.username or "")}
        if parsed.password:
            creds["jdbc.password"] = unquote(parsed.password)
        return url, creds
    sys.exit(f"spark_read.py: no JDBC form of the catalog URI {uri!r}")


def session(args):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    url, creds = jdbc(args.uri)
    prefix = f"spark.sql.catalog.{args.catalog_name}"
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("signaldb-spark-read")
        .config("spark.jars", args.jars)
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        # The rows are collected into the driver to be hashed: a table of half a million
        # rows does not fit the default 1 GiB heap.
        .config("spark.driver.memory", "4g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.extensions",
                "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config(prefix, "org.apache.iceberg.spark.SparkCatalog")
        .config(f"{prefix}.type", "jdbc")
        .config(f"{prefix}.uri", url)
        .config(f"{prefix}.warehouse", args.warehouse)
    )
    for key, value in creds.items():
        builder = builder.config(f"{prefix}.{key}", value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read(spark, catalog: str, ident: str) -> dict:
    import pyarrow as pa

    name = f"{catalog}.{ident}"
    frame = spark.table(name)
    batches = frame._collect_as_arrow()
    arrow = pa.Table.from_batches(batches) if batches else None
    snapshots = spark.sql(
        f"SELECT snapshot_id FROM {name}.snapshots ORDER BY committed_at DESC LIMIT 1").collect()
    if arrow is None:
        return {"total_rows": 0, "rows_per_hour": {}, "rows_sha256": base.digest([]),
                "snapshot_id": snapshots[0][0] if snapshots else None}
    return {
        "total_rows": arrow.num_rows,
        "rows_per_hour": base.rows_per_hour(arrow),
        "rows_sha256": base.digest(base.row_lines(arrow)),
        "snapshot_id": snapshots[0][0] if snapshots else None,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base.add_catalog_args(p)
    p.add_argument("--jars", required=True, help="comma-separated jars of the Spark session")
    p.add_argument("--table", action="append", default=[], metavar="TENANT.DATASET.TABLE")
    p.add_argument("--sql", action="append", default=[], metavar="STATEMENT",
                   help="Spark SQL run before reading (repeatable, in order)")
    args = p.parse_args()
    if not args.warehouse.startswith("file://"):
        sys.exit(f"spark_read.py: only local warehouses, not {args.warehouse}")
    spark = session(args)
    try:
        for statement in args.sql:
            spark.sql(statement).collect()
        tables = {t: read(spark, args.catalog_name, t) for t in args.table}
    finally:
        spark.stop()
    json.dump({"tables": tables}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
