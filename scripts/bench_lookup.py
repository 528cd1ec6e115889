#!/usr/bin/env python3
"""The lookup-cost benchmark's reader: what a trace-by-id lookup costs pyiceberg on one table.

Driven by scripts/bench-lookup.sh (see docs/benchmarks.md "Lookup cost"), on one traces table
in a SQLite catalog and a local warehouse:

    python scripts/bench_lookup.py pick    --uri sqlite:////abs/catalog.db \
        --warehouse file:///abs/warehouse --table acme.prod.traces --count 100 --seed 42 > ids.json
    python scripts/bench_lookup.py measure ... --ids ids.json --state before > before.json
    python scripts/bench_lookup.py report  --results DIR --out summary.json

`pick` reads the table's distinct non-null trace ids, sorts them and draws --count of them with
random.Random(--seed): the same rows always give the same ids.

`measure`, per trace id, on the table's current snapshot:
  - files: the data files `table.scan(row_filter=EqualTo("trace_id", id)).plan_files()` keeps
    (pyiceberg prunes by the hour partitions, which say nothing about trace ids, and by the
    manifests' trace_id lower/upper bounds);
  - row_groups: of those files' row groups, the ones whose Parquet min/max statistics of
    trace_id contain the id (a row group without them counts as matching: a reader must read it);
  - bytes: bytes a reader that prunes by file bounds and row-group statistics reads to answer:
    per planned file its footer (the Thrift FileMetaData plus the 8-byte length and magic), and
    per matching row group the compressed bytes of all its column chunks (the lookup returns
    whole rows). Page indexes and bloom filters are not used, so not counted;
  - rows: the rows `table.scan(row_filter=EqualTo("trace_id", id)).to_arrow()` returns, which
    must be the same in every state of the table; also the wall time of that read.
It also records the table's live files and row groups per hour partition. One JSON object on
stdout.

`report` reads DIR/{before,unsorted,sorted}.lookup.json and the compaction measurements
DIR/{unsorted,sorted}-N.measure.json (wall time and peak RSS of the process) and .out.json (the
compactor's report: `duration_secs` of the pass, without process start-up), prints the results table, the ratios and PASS/MISS lines,
writes --out, and exits 1 when the three states do not return the same rows for every id.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from urllib.parse import urlparse

import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo

STATES = ("before", "unsorted", "sorted")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["pick", "measure", "report"])
    p.add_argument("--catalog-name", default="signaldb")
    p.add_argument("--uri", help="SQLAlchemy URI, e.g. sqlite:////abs/catalog.db")
    p.add_argument("--warehouse", help="warehouse URI, e.g. file:///abs/warehouse")
    p.add_argument("--table", default="acme.prod.traces", metavar="TENANT.DATASET.TABLE")
    p.add_argument("--count", type=int, default=100, help="pick: how many trace ids")
    p.add_argument("--seed", type=int, default=42, help="pick: the random seed")
    p.add_argument("--ids", help="measure: the JSON file `pick` wrote")
    p.add_argument("--state", help="measure: the name of this state of the table")
    p.add_argument("--results", help="report: the directory of the run's JSON files")
    p.add_argument("--out", help="report: where to write the summary JSON")
    return p.parse_args()


def load_table(args):
    if not args.uri or not args.warehouse:
        sys.exit(f"{args.mode} needs --uri and --warehouse")
    catalog = SqlCatalog(args.catalog_name, uri=args.uri, warehouse=args.warehouse)
    return catalog.load_table(tuple(args.table.split(".")))


def local_path(location: str) -> str:
    url = urlparse(location)
    if url.scheme not in ("", "file"):
        sys.exit(f"{location}: this benchmark reads a local warehouse only")
    return url.path


def pick(table, count: int, seed: int) -> dict:
    column = table.scan(selected_fields=("trace_id",)).to_arrow()["trace_id"]
    ids = sorted({v for v in column.to_pylist() if v is not None})
    if len(ids) < count:
        sys.exit(f"the table holds {len(ids)} distinct trace ids, fewer than {count}")
    return {"seed": seed, "distinct_trace_ids": len(ids), "rows": len(column),
            "trace_ids": random.Random(seed).sample(ids, count)}


class FileInfo:
    """What a lookup needs of one data file's Parquet footer."""

    def __init__(self, path: str):
        md = pq.ParquetFile(path).metadata
        self.footer_bytes = md.serialized_size + 8
        self.row_groups = []  # (min or None, max or None, compressed bytes of all chunks)
        column = None
        for i in range(md.num_columns):
            if md.schema.column(i).path == "trace_id":
                column = i
        if column is None:
            sys.exit(f"{path} has no trace_id column")
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            stats = rg.column(column).statistics
            lo = hi = None
            if stats is not None and stats.has_min_max:
                lo, hi = stats.min, stats.max
                if isinstance(lo, bytes):
                    lo, hi = lo.decode(), hi.decode()
            size = sum(rg.column(c).total_compressed_size for c in range(rg.num_columns))
            self.row_groups.append((lo, hi, size))

    def matching(self, trace_id: str):
        return [g for g in self.row_groups
                if g[0] is None or g[1] is None or g[0] <= trace_id <= g[1]]


def live_layout(table) -> dict:
    """Live data files, bytes and row groups per hour partition of the current snapshot."""
    per_hour = {}
    for task in table.scan().plan_files():
        f = task.file
        hour = str(f.partition[0])
        info = FileInfo(local_path(f.file_path))
        h = per_hour.setdefault(hour, {"files": 0, "bytes": 0, "row_groups": 0, "rows": 0})
        h["files"] += 1
        h["bytes"] += f.file_size_in_bytes
        h["row_groups"] += len(info.row_groups)
        h["rows"] += f.record_count
    return per_hour


def measure(table, ids_doc: dict, state: str) -> dict:
    cache = {}
    lookups = []
    for trace_id in ids_doc["trace_ids"]:
        scan = table.scan(row_filter=EqualTo("trace_id", trace_id))
        t0 = time.perf_counter()
        tasks = list(scan.plan_files())
        plan_secs = time.perf_counter() - t0
        hours = {}
        row_groups = 0
        bytes_read = 0
        file_bytes = 0
        for task in tasks:
            path = local_path(task.file.file_path)
            info = cache.get(path) or cache.setdefault(path, FileInfo(path))
            matching = info.matching(trace_id)
            hour = str(task.file.partition[0])
            hours[hour] = hours.get(hour, 0) + 1
            row_groups += len(matching)
            bytes_read += info.footer_bytes + sum(g[2] for g in matching)
            file_bytes += task.file.file_size_in_bytes
        t0 = time.perf_counter()
        rows = table.scan(row_filter=EqualTo("trace_id", trace_id)).to_arrow().num_rows
        read_secs = time.perf_counter() - t0
        lookups.append({"trace_id": trace_id, "files": len(tasks), "files_per_hour": hours,
                        "row_groups": row_groups, "bytes": bytes_read,
                        "planned_file_bytes": file_bytes, "rows": rows,
                        "plan_secs": round(plan_secs, 4), "read_secs": round(read_secs, 4)})
    layout = live_layout(table)
    return {"state": state, "snapshot_id": table.current_snapshot().snapshot_id,
            "layout": layout, "lookups": lookups}


def mean(values):
    return statistics.fmean(values) if values else 0.0


def summarize_state(doc: dict) -> dict:
    lookups, layout = doc["lookups"], doc["layout"]
    hours = len(layout)
    files = mean([lk["files"] for lk in lookups])
    return {
        "hours": hours,
        "live_files": sum(h["files"] for h in layout.values()),
        "live_row_groups": sum(h["row_groups"] for h in layout.values()),
        "live_bytes": sum(h["bytes"] for h in layout.values()),
        "files_per_lookup": files,
        # the lookup has no time filter, so it plans in every hour partition
        "files_per_hour": files / hours if hours else 0.0,
        "row_groups_per_lookup": mean([lk["row_groups"] for lk in lookups]),
        "bytes_per_lookup": mean([lk["bytes"] for lk in lookups]),
        "planned_file_bytes_per_lookup": mean([lk["planned_file_bytes"] for lk in lookups]),
        "rows_per_lookup": mean([lk["rows"] for lk in lookups]),
        "read_secs_median": statistics.median([lk["read_secs"] for lk in lookups]),
        "plan_secs_median": statistics.median([lk["plan_secs"] for lk in lookups]),
    }


def compaction_times(results: str, variant: str) -> dict:
    walls, rss, passes = [], [], []
    n = 1
    while os.path.exists(f"{results}/{variant}-{n}.measure.json"):
        m = json.load(open(f"{results}/{variant}-{n}.measure.json"))
        out = json.load(open(f"{results}/{variant}-{n}.out.json"))
        walls.append(m["wall_secs"])
        rss.append(m["peak_rss_bytes"])
        passes.append(sum(r["duration_secs"] for r in out.get("reports", [out])))
        n += 1
    if not walls:
        sys.exit(f"no {variant}-N.measure.json in {results}")
    return {"runs": len(walls), "wall_secs": walls, "wall_secs_median": statistics.median(walls),
            "pass_secs_median": statistics.median(passes),
            "peak_rss_mib_median": statistics.median(rss) / 2**20}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results: str, out: str) -> int:
    docs = {s: json.load(open(f"{results}/{s}.lookup.json")) for s in STATES}
    ids = json.load(open(f"{results}/ids.json"))
    states = {s: summarize_state(d) for s, d in docs.items()}
    # every lookup returns the same rows in every state
    mismatches = []
    empty = []
    for i, trace_id in enumerate(ids["trace_ids"]):
        rows = {s: docs[s]["lookups"][i]["rows"] for s in STATES}
        if any(docs[s]["lookups"][i]["trace_id"] != trace_id for s in STATES):
            sys.exit("the states' lookups are not in the same order")
        if len(set(rows.values())) != 1:
            mismatches.append({"trace_id": trace_id, **rows})
        if rows["before"] == 0:
            empty.append(trace_id)
    times = {v: compaction_times(results, v) for v in ("unsorted", "sorted")}

    print(f'lookups: {len(ids["trace_ids"])} trace ids (seed {ids["seed"]}) of '
          f'{ids["distinct_trace_ids"]} in {ids["rows"]} rows, '
          f'{states["before"]["hours"]} hour partitions')
    print(f'{"state":<10}{"files":>7}{"row groups":>12}{"files/lookup":>14}{"files/hour":>12}'
          f'{"row groups/lookup":>19}{"KiB read/lookup":>17}{"rows/lookup":>13}'
          f'{"read ms (median)":>18}')
    for s in STATES:
        r = states[s]
        print(f'{s:<10}{r["live_files"]:>7}{r["live_row_groups"]:>12}'
              f'{r["files_per_lookup"]:>14.2f}{r["files_per_hour"]:>12.2f}'
              f'{r["row_groups_per_lookup"]:>19.2f}{r["bytes_per_lookup"] / 1024:>17.1f}'
              f'{r["rows_per_lookup"]:>13.2f}{r["read_secs_median"] * 1000:>18.1f}')
    print(f'{"compaction":<10}{"runs":>6}{"median s":>10}{"pass s":>8}{"peak RSS MiB":>14}'
          '  wall s of each run')
    for v, t in times.items():
        runs = ", ".join(f"{w:.2f}" for w in t["wall_secs"])
        print(f'{v:<10}{t["runs"]:>6}{t["wall_secs_median"]:>10.2f}{t["pass_secs_median"]:>8.2f}'
              f'{t["peak_rss_mib_median"]:>14.1f}  {runs}')

    u, so = states["unsorted"], states["sorted"]
    ratios = {
        "files_per_hour_sorted": so["files_per_hour"],
        "bytes_unsorted_over_sorted": u["bytes_per_lookup"] / so["bytes_per_lookup"],
        "bytes_before_over_sorted": states["before"]["bytes_per_lookup"] / so["bytes_per_lookup"],
        "row_groups_unsorted_over_sorted":
            u["row_groups_per_lookup"] / so["row_groups_per_lookup"],
        "sort_cost_time_sorted_over_unsorted":
            times["sorted"]["wall_secs_median"] / times["unsorted"]["wall_secs_median"],
        "rss_sorted_over_unsorted":
            times["sorted"]["peak_rss_mib_median"] / times["unsorted"]["peak_rss_mib_median"],
    }
    targets = [
        (ratios["files_per_hour_sorted"] <= 1.3,
         f'files per hour partition per lookup, sorted          {ratios["files_per_hour_sorted"]:6.2f}'
         ' (target <= 1.3)'),
        (ratios["bytes_unsorted_over_sorted"] >= 10,
         f'bytes read per lookup, unsorted / sorted            {ratios["bytes_unsorted_over_sorted"]:6.1f}x'
         ' (target >= 10x)'),
        (ratios["sort_cost_time_sorted_over_unsorted"] <= 1.5,
         f'compaction time sorted / unsorted (sort cost)       '
         f'{ratios["sort_cost_time_sorted_over_unsorted"]:6.2f}x (target <= 1.5x)'),
        (not mismatches and not empty,
         f'every lookup returns the same rows in all three states ({len(mismatches)} differ, '
         f'{len(empty)} empty)'),
    ]
    print("ratios (this run):")
    print(f'  files per lookup before / unsorted / sorted: {states["before"]["files_per_lookup"]:.2f}'
          f' / {u["files_per_lookup"]:.2f} / {so["files_per_lookup"]:.2f}')
    print(f'  row groups per lookup unsorted / sorted: {ratios["row_groups_unsorted_over_sorted"]:.1f}x')
    print(f'  bytes read per lookup before / sorted: {ratios["bytes_before_over_sorted"]:.1f}x')
    print(f'  peak RSS of compaction sorted / unsorted: {ratios["rss_sorted_over_unsorted"]:.2f}x')
    for ok, line in targets:
        print(f"{verdict(ok)} {line}")
    summary = {"ids": {k: v for k, v in ids.items() if k != "trace_ids"}, "states": states,
               "compaction": times, "ratios": ratios,
               "targets": [{"result": verdict(ok), "what": " ".join(line.split())}
                           for ok, line in targets],
               "row_mismatches": mismatches, "empty_lookups": empty}
    json.dump(summary, open(out, "w"), indent=2)
    return 1 if mismatches or empty else 0


def main():
    args = parse_args()
    if args.mode == "report":
        if not args.results or not args.out:
            sys.exit("report needs --results and --out")
        sys.exit(report(args.results, args.out))
    table = load_table(args)
    if args.mode == "pick":
        result = pick(table, args.count, args.seed)
    else:
        if not args.ids or not args.state:
            sys.exit("measure needs --ids and --state")
        result = measure(table, json.load(open(args.ids)), args.state)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
