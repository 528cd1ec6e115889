#!/usr/bin/env python3
"""Contender (b) of the compaction benchmark: how a pyiceberg user compacts a table today.

Per hour partition: read the partition with a scan and write it back with
`table.overwrite(rows, overwrite_filter=<the partition's time range>)`, which drops the
partition's files and appends the rows as new files in one `overwrite` snapshot. Driven by
scripts/bench-compaction.sh (see docs/benchmarks.md); needs pyiceberg-core for writes into an
hour()-partitioned table.

    python scripts/bench_pyiceberg_compact.py compact --uri sqlite:////abs/catalog.db \
        --warehouse file:///abs/warehouse --table acme.prod.traces --expect-rows 800000
    python scripts/bench_pyiceberg_compact.py verify  ... --expect-rows 800000 [--max-files-per-hour 1]
    python scripts/bench_pyiceberg_compact.py stats   ...

Each prints one JSON object on stdout; `compact` and `verify` exit 1 when the row count is not
the expected one.
`compact` reports: rows, bytes_in (size of the input files), partitions, files_before,
files_after, seconds (the overwrite loop only: no interpreter start, imports or catalog load),
per_partition_secs and peak_rss_bytes (ru_maxrss of this process).
`verify` counts the rows of the table by streaming a scan per hour partition, and reports the
table's metadata as `stats` does.
`stats` reads only metadata: snapshots (in the table's metadata), manifests (in the current
snapshot), partitions and manifests_per_hour (manifests holding an entry of the hour, deleted
entries included: a planner reads them all).
"""

import argparse
import datetime as dt
import json
import resource
import sys
import time

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

SECONDS_PER_HOUR = 3600


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["compact", "verify", "stats"])
    p.add_argument("--catalog-name", default="signaldb")
    p.add_argument("--uri", required=True, help="SQLAlchemy URI, e.g. sqlite:////abs/catalog.db")
    p.add_argument("--warehouse", required=True, help="warehouse URI, e.g. file:///abs/warehouse")
    p.add_argument("--table", required=True, metavar="TENANT.DATASET.TABLE")
    p.add_argument("--expect-rows", type=int, help="compact, verify: the rows the table holds")
    p.add_argument("--max-files-per-hour", type=int, default=None,
                   help="verify: fail when an hour partition holds more live files")
    return p.parse_args()


def hour_filter(hour: int):
    start = dt.datetime.fromtimestamp(hour * SECONDS_PER_HOUR, tz=dt.timezone.utc)
    end = start + dt.timedelta(hours=1)
    return And(GreaterThanOrEqual("timestamp", start.isoformat()),
               LessThan("timestamp", end.isoformat()))


def live_files(table) -> dict:
    """{hour: (files, bytes, rows)} of the current snapshot's live data files."""
    out = {}
    files = table.inspect.files().to_pylist()
    for f in files:
        if f["content"] != 0:
            sys.exit(f"{f['file_path']} is a delete file; this benchmark expects none")
        hour = f["partition"]["hour"]
        n, b, r = out.get(hour, (0, 0, 0))
        out[hour] = (n + 1, b + f["file_size_in_bytes"], r + f["record_count"])
    return out


def count_rows(table, hour: int) -> int:
    reader = table.scan(row_filter=hour_filter(hour)).to_arrow_batch_reader()
    return sum(batch.num_rows for batch in reader)


def compact(table, expect_rows: int) -> dict:
    before = live_files(table)
    rows_before = sum(r for _, _, r in before.values())
    if rows_before != expect_rows:
        sys.exit(f"the table holds {rows_before} rows before compaction, expected {expect_rows}")
    per_partition = {}
    rows = 0
    started = time.perf_counter()
    for hour in sorted(before):
        t0 = time.perf_counter()
        flt = hour_filter(hour)
        data = table.scan(row_filter=flt).to_arrow()
        if data.num_rows != before[hour][2]:
            sys.exit(f"hour {hour}: the scan returned {data.num_rows} rows, "
                     f"the manifests list {before[hour][2]}")
        table.overwrite(data, overwrite_filter=flt)
        rows += data.num_rows
        del data
        per_partition[str(hour)] = round(time.perf_counter() - t0, 3)
    seconds = time.perf_counter() - started
    after = live_files(table)
    return {
        "rows": rows,
        "bytes_in": sum(b for _, b, _ in before.values()),
        "bytes_out": sum(b for _, b, _ in after.values()),
        "partitions": len(before),
        "files_before": sum(n for n, _, _ in before.values()),
        "files_after": sum(n for n, _, _ in after.values()),
        "rows_after": sum(r for _, _, r in after.values()),
        "seconds": seconds,
        "per_partition_secs": per_partition,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def metadata_stats(table) -> dict:
    """Snapshots in the metadata, manifests in the current snapshot and per hour partition."""
    snapshot = table.current_snapshot()
    manifests = snapshot.manifests(table.io) if snapshot is not None else []
    per_hour = {}
    for manifest in manifests:
        hours = {e.data_file.partition[0]
                 for e in manifest.fetch_manifest_entry(table.io, discard_deleted=False)}
        for hour in hours:
            per_hour[str(hour)] = per_hour.get(str(hour), 0) + 1
    return {"snapshots": len(table.metadata.snapshots), "manifests": len(manifests),
            "partitions": len(per_hour), "manifests_per_hour": per_hour}


def verify(table, expect_rows: int, max_files_per_hour) -> dict:
    files = live_files(table)
    per_hour = {str(h): count_rows(table, h) for h in sorted(files)}
    rows = sum(per_hour.values())
    problems = []
    if rows != expect_rows:
        problems.append(f"the table holds {rows} rows, expected {expect_rows}")
    for h, (n, _, r) in sorted(files.items()):
        if per_hour[str(h)] != r:
            problems.append(f"hour {h}: scan counts {per_hour[str(h)]} rows, manifests {r}")
        if max_files_per_hour is not None and n > max_files_per_hour:
            problems.append(f"hour {h}: {n} live files, expected at most {max_files_per_hour}")
    return {"rows": rows, "rows_per_hour": per_hour,
            "files": sum(n for n, _, _ in files.values()), "problems": problems,
            **metadata_stats(table)}


def main():
    args = parse_args()
    catalog = SqlCatalog(args.catalog_name, uri=args.uri, warehouse=args.warehouse)
    table = catalog.load_table(tuple(args.table.split(".")))
    if args.mode != "stats" and args.expect_rows is None:
        sys.exit(f"{args.mode} needs --expect-rows")
    if args.mode == "stats":
        result, ok = metadata_stats(table), True
    elif args.mode == "compact":
        result = compact(table, args.expect_rows)
        ok = result["rows"] == args.expect_rows == result["rows_after"]
    else:
        result = verify(table, args.expect_rows, args.max_files_per_hour)
        ok = not result["problems"]
    print(json.dumps(result, indent=2))
    if not ok:
        print(f"error: row count check failed: {json.dumps(result)[:2000]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
