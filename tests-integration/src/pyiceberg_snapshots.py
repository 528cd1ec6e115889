#!/usr/bin/env python3
"""Reads SignalDB tables snapshot by snapshot with pyiceberg, and loads every metadata file the
table's metadata log lists, then prints JSON.

Takes the connection arguments of scripts/pyiceberg_read.py (--catalog-name, --uri, --warehouse,
--prop, --table, repeatable) plus --rows-of ID (repeatable: read the rows of these snapshots
only; by default those of every snapshot) or --no-rows. For each table that exists:

    "metadata_location": the metadata file the catalog points at
    "properties":        the table properties
    "metadata_log":      [{"metadata_file", "timestamp_ms", "snapshot_ids"}], oldest first: each
                         file opened on its own with StaticTable (it exists and parses)
    "snapshots":         [{"snapshot_id", "parent_id", "sequence_number", "operation",
                           "summary", "rows", "rows_digest"}], every snapshot by sequence
                         number ("rows" and "rows_digest" only where its rows were read)

`rows_digest` identifies the multiset of the snapshot's rows whatever their order or files: the
sum (exact, in decimal) of a 64-bit hash of each row (its columns as strings, timestamps as
integers, nulls marked, joined with a separator), so the digest of a multiset is the sum of its
parts' digests. Python's string hash is made reproducible by running with PYTHONHASHSEED=0 (the
script restarts itself with it). The rows are streamed batch by batch, so a table of millions of
rows is read in bounded memory. Used by the compactor tests
(tests-integration/src/pyiceberg_snapshots.rs).
"""

import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    # The digest needs Python's string hash to be the same in every run.
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import argparse  # noqa: E402
import json  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from pyiceberg.catalog.sql import SqlCatalog  # noqa: E402
from pyiceberg.exceptions import NoSuchTableError  # noqa: E402
from pyiceberg.table import StaticTable  # noqa: E402

SEPARATOR = "\x1f"
NULL = "\x00null\x00"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--catalog-name", default="signaldb")
    p.add_argument("--uri", required=True)
    p.add_argument("--warehouse", required=True)
    p.add_argument("--prop", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--table", action="append", default=[], metavar="TENANT.DATASET.TABLE")
    p.add_argument("--rows-of", action="append", type=int, default=[], metavar="ID",
                   help="read the rows of this snapshot only (repeatable)")
    p.add_argument("--no-rows", action="store_true", help="read no rows, only metadata")
    return p.parse_args()


def row_strings(batch: pa.RecordBatch) -> pa.Array:
    """One string per row: every column as a string, nulls marked, in schema order."""
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.int64())
        columns.append(pc.cast(column, pa.large_string()))
    separator = pa.scalar(SEPARATOR, pa.large_string())
    return pc.binary_join_element_wise(
        *columns, separator, null_handling="replace", null_replacement=NULL
    )


def read_rows(table, snapshot_id: int) -> tuple:
    """Rows of one snapshot and their order-independent digest."""
    total, rows = 0, 0
    for batch in table.scan(snapshot_id=snapshot_id).to_arrow_batch_reader():
        rows += batch.num_rows
        total += sum(map(hash, row_strings(batch).to_pylist()))
    return rows, str(total)


def snapshot_json(table, snapshot, with_rows: bool) -> dict:
    summary = snapshot.summary
    out = {
        "snapshot_id": snapshot.snapshot_id,
        "parent_id": snapshot.parent_snapshot_id,
        "sequence_number": snapshot.sequence_number,
        "operation": summary.operation.value if summary else None,
        "summary": dict(summary.additional_properties) if summary else {},
    }
    if with_rows:
        out["rows"], out["rows_digest"] = read_rows(table, snapshot.snapshot_id)
    return out


def read_table(catalog, ident: str, props: dict, rows_of) -> dict:
    """`rows_of`: the ids of the snapshots whose rows are read, or None for every snapshot."""
    try:
        table = catalog.load_table(ident)
    except NoSuchTableError:
        return {"exists": False}
    log = []
    for entry in table.metadata.metadata_log:
        old = StaticTable.from_metadata(entry.metadata_file, props)
        log.append({
            "metadata_file": entry.metadata_file,
            "timestamp_ms": entry.timestamp_ms,
            "snapshot_ids": sorted(s.snapshot_id for s in old.snapshots()),
        })
    snapshots = sorted(table.snapshots(), key=lambda s: s.sequence_number)
    return {
        "exists": True,
        "metadata_location": table.metadata_location,
        "properties": dict(table.properties),
        "metadata_log": log,
        "snapshots": [
            snapshot_json(table, s, rows_of is None or s.snapshot_id in rows_of)
            for s in snapshots
        ],
    }


def main() -> int:
    args = parse_args()
    props = dict(kv.split("=", 1) for kv in args.prop)
    catalog = SqlCatalog(args.catalog_name, uri=args.uri, warehouse=args.warehouse, **props)
    rows_of = set() if args.no_rows else (set(args.rows_of) if args.rows_of else None)
    tables = {ident: read_table(catalog, ident, props, rows_of) for ident in args.table}
    if rows_of:
        found = {s["snapshot_id"] for t in tables.values() for s in t.get("snapshots", [])}
        if rows_of - found:
            print(f"no snapshot {sorted(rows_of - found)} in {args.table}", file=sys.stderr)
            return 1
    json.dump({"tables": tables}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
