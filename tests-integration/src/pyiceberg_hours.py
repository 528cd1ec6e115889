#!/usr/bin/env python3
"""Reads SignalDB tables with pyiceberg like scripts/pyiceberg_read.py, broken down per hour.

Takes the same arguments as scripts/pyiceberg_read.py and reports, for each table that exists,
everything that script reports plus:

    "hours":          {"YYYY-MM-DD-HH": {"rows": n, "rows_sha256": hex}}   by the timestamp column
    "files_per_hour": {"YYYY-MM-DD-HH": [live data file paths, sorted]}     by the partition value
    "snapshots":      [{"snapshot_id", "parent_id", "sequence_number", "operation"}] oldest first

The digests are pyiceberg_read.py's `rows_sha256` over the rows of one hour, so the digest of a
partition can be compared before and after a rewrite of it. Used by the compactor tests
(tests-integration/src/pyiceberg_hours.rs).
"""

import json
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import pyiceberg_read as base  # noqa: E402


def hour_numbers(arrow: pa.Table) -> pa.Array:
    """The UTC hour (since the epoch) of each row's timestamp, as pyiceberg_read.py counts it."""
    col = arrow["timestamp"]
    unit = col.type.unit if pa.types.is_timestamp(col.type) else "us"
    per_hour = {"s": 3600, "ms": 3_600_000, "us": base.MICROS_PER_HOUR,
                "ns": base.MICROS_PER_HOUR * 1000}[unit]
    ticks = pc.cast(col, pa.int64())
    return pc.cast(pc.floor(pc.divide(pc.cast(ticks, pa.float64()), float(per_hour))), pa.int64())


def hours(arrow: pa.Table) -> dict:
    if arrow.num_rows == 0:
        return {}
    numbers = hour_numbers(arrow)
    out = {}
    for hour in sorted(set(numbers.to_pylist())):
        rows = arrow.filter(pc.equal(numbers, hour))
        out[base.hour_label(hour)] = {"rows": rows.num_rows, "rows_sha256": base.rows_sha256(rows)}
    return out


def files_per_hour(table) -> dict:
    """Live data files by hour partition, whatever the hour field is named (`hour`,
    `timestamp_hour`): the current spec's one field."""
    field = table.spec().fields[0].name
    out = {}
    files = table.inspect.files().select(["content", "file_path", "partition"]).to_pylist()
    for f in files:
        if f["content"] != 0:
            continue
        label = base.hour_label(f["partition"][field])
        out.setdefault(label, []).append(f["file_path"])
    return {label: sorted(paths) for label, paths in sorted(out.items())}


def snapshots(table) -> list:
    return [
        {"snapshot_id": s.snapshot_id, "parent_id": s.parent_snapshot_id,
         "sequence_number": s.sequence_number,
         "operation": s.summary.operation.value if s.summary else None}
        for s in sorted(table.snapshots(), key=lambda s: s.sequence_number)
    ]


def main() -> int:
    args = base.parse_args()
    catalog = base.open_catalog(args)
    tables = {}
    for ident in args.table:
        out = base.read_table(catalog, ident, not args.no_rows_hash)
        if out["exists"]:
            table = catalog.load_table(ident)
            if table.metadata_location != out["metadata_location"]:
                print(f"{ident} changed while it was read", file=sys.stderr)
                return 1
            out["hours"] = hours(table.scan().to_arrow())
            out["files_per_hour"] = files_per_hour(table)
            out["snapshots"] = snapshots(table)
        tables[ident] = out
    json.dump({"tables": tables}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
