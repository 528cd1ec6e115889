#!/usr/bin/env python3
"""The streaming shape of the compaction benchmark: many small appends into one closed hour.

Reads every row of a source table (written by signaldb-loadgen into a catalog of its own),
sorts them by timestamp and appends them to the target table in --appends consecutive slices,
each with its own `table.append` (a fast append: one new manifest per commit), the way a
streaming writer that flushes often leaves a table. With `--appends 1` it loads the same rows
in one commit instead: the "freshly loaded" table the benchmark compares planning times with.
The target table must exist (`signaldb-loadgen --hours 0` creates it empty) and must not
enable manifest merging. Driven by scripts/bench-compaction.sh (see docs/benchmarks.md); needs
pyiceberg-core for writes into an hour()-partitioned table.

    python scripts/bench_streaming_load.py \
        --source-uri sqlite:////abs/src/catalog.db --source-warehouse file:///abs/src/warehouse \
        --uri sqlite:////abs/catalog.db --warehouse file:///abs/warehouse \
        --table acme.prod.traces --appends 300

Prints one JSON object on stdout: rows, appends, rows_per_append, files (live data files of
the target afterwards), manifests (in its current snapshot), snapshots and seconds (the
append loop). Exits 1 when the target does not end up with every source row, or when
`--appends N` did not leave N manifests.
"""

import argparse
import json
import sys
import time

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import TableProperties


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--catalog-name", default="signaldb")
    p.add_argument("--source-uri", required=True, help="SQLAlchemy URI of the source catalog")
    p.add_argument("--source-warehouse", required=True, help="warehouse URI of the source")
    p.add_argument("--uri", required=True, help="SQLAlchemy URI of the target catalog")
    p.add_argument("--warehouse", required=True, help="warehouse URI of the target")
    p.add_argument("--table", required=True, metavar="TENANT.DATASET.TABLE",
                   help="the table, in both catalogs")
    p.add_argument("--appends", type=int, required=True, help="commits to spread the rows over")
    return p.parse_args()


def main():
    args = parse_args()
    ident = tuple(args.table.split("."))
    source = SqlCatalog(args.catalog_name, uri=args.source_uri, warehouse=args.source_warehouse)
    target = SqlCatalog(args.catalog_name, uri=args.uri, warehouse=args.warehouse)
    rows = source.load_table(ident).scan().to_arrow().sort_by("timestamp")
    table = target.load_table(ident)
    if table.current_snapshot() is not None:
        sys.exit(f"{args.table} in the target catalog is not empty")
    if table.properties.get(TableProperties.MANIFEST_MERGE_ENABLED, "false").lower() == "true":
        sys.exit(f"{args.table} enables manifest merging: appends would not be fast appends")
    n = args.appends
    if n < 1 or rows.num_rows < n:
        sys.exit(f"cannot spread {rows.num_rows} rows over {n} appends")
    bounds = [rows.num_rows * i // n for i in range(n + 1)]
    started = time.perf_counter()
    for lo, hi in zip(bounds, bounds[1:]):
        table.append(rows.slice(lo, hi - lo))
    seconds = time.perf_counter() - started
    table = target.load_table(ident)
    files = table.inspect.files().to_pylist()
    manifests = table.current_snapshot().manifests(table.io)
    result = {
        "rows": sum(f["record_count"] for f in files),
        "appends": n,
        "rows_per_append": rows.num_rows // n,
        "files": len(files),
        "manifests": len(manifests),
        "snapshots": len(table.metadata.snapshots),
        "seconds": round(seconds, 3),
    }
    print(json.dumps(result, indent=2))
    if result["rows"] != rows.num_rows or result["manifests"] != n:
        print(f"error: expected {rows.num_rows} rows in {n} manifests: {json.dumps(result)}",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
