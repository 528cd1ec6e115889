#!/usr/bin/env python3
"""Reads Iceberg tables with DuckDB's iceberg extension, a third Iceberg reader beside ours and
pyiceberg, and prints rows per UTC hour of `timestamp` as JSON.

DuckDB is given a table's metadata file (the catalog's `metadata_location`), not the catalog:
`iceberg_scan(LOCATION)` reads the current snapshot of that metadata file, and
`iceberg_scan(LOCATION, snapshot_from_id => ID)` an older one it still lists.

    .venv-test/bin/python tests-integration/src/duckdb_read.py \
        --scan file:///abs/warehouse/acme/prod/traces/metadata/00002-....metadata.json \
        --scan file:///abs/.../00002-....metadata.json 1234567890
    # S3: add --s3-endpoint http://127.0.0.1:PORT --s3-region us-east-1; the keys come from
    #     AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or --s3-key-id / --s3-secret)

Output, one JSON object on stdout, one entry per --scan in the order given:
    {"duckdb_version": "v1.5.5", "iceberg_extension": "<its version>",
     "scans": [{"metadata_location": ..., "snapshot_id": null or ID, "total_rows": n,
                "rows_per_hour": {"YYYY-MM-DD-HH": n, ...},
                "files_per_hour": {"YYYY-MM-DD-HH": [data files its rows came from, sorted]}}]}

`total_rows` is a bare count(*), which DuckDB answers from the manifests' record counts;
`rows_per_hour` counts the rows it read, by the UTC hour of `timestamp`.

With --rows-hash each scan also reads every row (`SELECT *`) and adds
    "rows_sha256": hex, "hours": {"YYYY-MM-DD-HH": {"rows": n, "rows_sha256": hex}}
computed by scripts/pyiceberg_read.py's `row_lines` and `digest` (each row as JSON with sorted
keys, map entries sorted by key, lines sorted), so the digests DuckDB and pyiceberg report for
the same snapshot are equal: the rows are DuckDB's, only the digest of them is shared.

The extensions (avro, which iceberg needs, iceberg, and httpfs for S3) are loaded from the files
the pinned `duckdb-extension-*` packages install into the venv: DuckDB never downloads an
extension and never writes to ~/.duckdb. Used by tests-integration/src/duckdb_read.rs.
"""

import argparse
import datetime as dt
import importlib
import json
import os
import pathlib
import sys
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

# The digest of rows is pyiceberg_read.py's, so that both readers' digests compare.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import pyiceberg_read as base  # noqa: E402

# In load order: iceberg loads avro when it initialises and fails if it is not loaded yet.
EXTENSIONS = ("avro", "iceberg", "httpfs")
MICROS_PER_HOUR = 3_600_000_000


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scan", action="append", nargs="+", default=[], required=True,
                   metavar="LOCATION [SNAPSHOT_ID]",
                   help="metadata file to read, optionally at an older snapshot (repeatable)")
    p.add_argument("--s3-endpoint", help="S3 endpoint URL, e.g. http://127.0.0.1:PORT")
    p.add_argument("--s3-region", default="us-east-1")
    p.add_argument("--s3-key-id", default=os.environ.get("AWS_ACCESS_KEY_ID", ""),
                   help="access key (default: $AWS_ACCESS_KEY_ID)")
    p.add_argument("--s3-secret", default=os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
                   help="secret key (default: $AWS_SECRET_ACCESS_KEY)")
    p.add_argument("--rows-hash", action="store_true",
                   help="also digest every row, in total and per hour (pyiceberg_read.py's "
                        "rows_sha256)")
    args = p.parse_args()
    scans = []
    for scan in args.scan:
        if len(scan) > 2:
            p.error(f"--scan takes LOCATION [SNAPSHOT_ID], not {scan}")
        scans.append((scan[0], int(scan[1]) if len(scan) == 2 else None))
    args.scan = scans
    return args


def extension_file(name: str, version: str) -> pathlib.Path:
    """The extension binary the `duckdb-extension-NAME` package ships for DuckDB `version`."""
    package = importlib.import_module(f"duckdb_extension_{name}")
    path = pathlib.Path(package.__file__).parent / "extensions" / version
    path = path / f"{name}.duckdb_extension"
    if not path.is_file():
        sys.exit(f"no {path}: duckdb-extension-{name} does not match DuckDB {version}")
    return path


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={
        # Only the extension files loaded below: never fetch or auto-load one.
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
    })
    version = con.execute("PRAGMA version").fetchone()[0]
    for name in EXTENSIONS:
        con.execute(f"LOAD {sql_string(str(extension_file(name, version)))}")
    return con


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def add_s3_secret(con, args) -> None:
    endpoint = urlparse(args.s3_endpoint)
    if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
        sys.exit(f"--s3-endpoint must be http(s)://HOST:PORT, not {args.s3_endpoint}")
    con.execute(f"""CREATE SECRET s3_test (
        TYPE s3,
        KEY_ID {sql_string(args.s3_key_id)},
        SECRET {sql_string(args.s3_secret)},
        REGION {sql_string(args.s3_region)},
        ENDPOINT {sql_string(endpoint.netloc)},
        URL_STYLE 'path',
        USE_SSL {str(endpoint.scheme == "https").lower()}
    )""")


def hour_label(hour: int) -> str:
    return dt.datetime.fromtimestamp(hour * 3600, tz=dt.timezone.utc).strftime("%Y-%m-%d-%H")


def hash_rows(con, location: str, options: str) -> dict:
    """Every row of the scan, digested in total and per UTC hour of `timestamp`."""
    result = con.execute(f"SELECT * FROM iceberg_scan({sql_string(location)}{options})")
    arrow = result.to_arrow_table()
    lines = base.row_lines(arrow)
    col = arrow["timestamp"]
    unit = col.type.unit if pa.types.is_timestamp(col.type) else "us"
    per_hour = {"s": 3600, "ms": 3_600_000, "us": MICROS_PER_HOUR, "ns": MICROS_PER_HOUR * 1000}
    ticks = pc.cast(col, pa.int64()).to_pylist()
    by_hour = {}
    for tick, line in zip(ticks, lines):
        if tick is None:
            sys.exit(f"{location}: a row without a timestamp")
        by_hour.setdefault(tick // per_hour[unit], []).append(line)
    return {"rows_sha256": base.digest(lines),
            "hours": {hour_label(h): {"rows": len(rows), "rows_sha256": base.digest(rows)}
                      for h, rows in sorted(by_hour.items())}}


def scan(con, location: str, snapshot_id, with_hash: bool = False) -> dict:
    options = "" if snapshot_id is None else f", snapshot_from_id => {int(snapshot_id)}"
    # Hours since the epoch of the UTC instant, whatever the session's time zone, and the data
    # file each row came from: the virtual column `filename` (the `filename => true` option
    # fails on our hour-partitioned tables in iceberg extension 1.5.5 with an internal error).
    rows = con.execute(
        f"SELECT floor(epoch_us(\"timestamp\") / {MICROS_PER_HOUR})::BIGINT AS hour, filename, "
        f"count(*) FROM iceberg_scan({sql_string(location)}{options}) "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    # A bare count(*), which DuckDB answers from the manifests' record counts without reading
    # the rows: a second count to compare.
    total = con.execute(
        f"SELECT count(*) FROM iceberg_scan({sql_string(location)}{options})"
    ).fetchone()[0]
    per_hour, files = {}, {}
    for hour, filename, count in rows:
        if hour is None:
            sys.exit(f"{location}: {count} row(s) of {filename} without a timestamp")
        label = hour_label(hour)
        per_hour[label] = per_hour.get(label, 0) + count
        files.setdefault(label, []).append(filename)
    out = {"metadata_location": location, "snapshot_id": snapshot_id, "total_rows": total,
           "rows_per_hour": per_hour, "files_per_hour": {h: sorted(f) for h, f in files.items()}}
    if with_hash:
        out.update(hash_rows(con, location, options))
    return out


def main() -> int:
    args = parse_args()
    con = connect()
    if args.s3_endpoint:
        add_s3_secret(con, args)
    iceberg = con.execute(
        "SELECT extension_version FROM duckdb_extensions() WHERE extension_name = 'iceberg'"
    ).fetchone()[0]
    out = {
        "duckdb_version": con.execute("PRAGMA version").fetchone()[0],
        "iceberg_extension": iceberg,
        "scans": [scan(con, location, snapshot_id, args.rows_hash)
                  for location, snapshot_id in args.scan],
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
