#!/usr/bin/env python3
"""The storage benchmark's Python parts (scripts/bench-storage.sh): what a compacted table costs
at rest and to read. Runs in the test venv (pyiceberg, pyarrow, DuckDB).

    bench_storage.py meta   --out META.json --contenders "C ..." [--before PATH] ...
    bench_storage.py files  --uri U --warehouse W --table T --root DIR    > C-1.files.json
    bench_storage.py scan   --results DIR --tables TABLES --contenders "C ..." --expect-rows N
    bench_storage.py report --results DIR --out storage.json

`files` lists the live data files of the table's current snapshot (pyiceberg), relative to
--root, with the table's columns: the script then moves --root to TABLES/CONTENDER.

`scan` has DuckDB read every column of every live data file of each contender's table:
    SELECT count(*), sum(hash("col1")), sum(hash("col2")), ... FROM read_parquet([...files...])
(`hash` reads each value, of any type), in --runs rounds over all the contenders after one
untimed round (each round starting one contender further on), so that a slow spell of the
shared machine falls on all of them. Writes DIR/CONTENDER-1.scan.json: the wall time of each
run and their median, the rows (exit 1 unless --expect-rows) and the per-column sums of hashes,
which are the same for any table holding the same rows, whatever its files, order or encoding.

`report` reads the run's directory, laid out as scripts/bench-peers.sh lays out its own (per
workload: workload.json, before.inspect.json, sort-columns, ids.json and per contender
CONTENDER-1.{measure,out,inspect,scan,lookup}.json), checks it with bench_peers.collect (rows,
files, ours' sort), adds the DuckDB scans and the lookups (bench_lookup.summarize_state), prints
the table, the ratios and the PASS/MISS lines and writes --out. Exits 1 when a scan or a lookup
returned other rows than the others: a missed target is a result, not a failure.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import bench_peers
from bench_peers import MIB

# A DuckDB scan of ours may take this much longer than the --before build's and still pass:
# the noise of timing one query on a shared 2-core machine, not a margin we want.
SCAN_NOISE = 1.10
SPARK_BYTES = 0.9


def _load(path):
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------------------------- meta


def meta(args) -> int:
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "quick": args.quick, "runs": 1, "git_rev": args.git_rev, "cpus": os.cpu_count(),
           "contenders": args.contenders.split(), "lookups": args.lookups,
           "scan_runs": args.scan_runs, "load_average_at_start": os.getloadavg(),
           "machine": platform.machine(), "kernel": platform.release(), "before": None}
    if args.before:
        with open(args.before, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        version = subprocess.run([args.before, "--version"], capture_output=True, text=True)
        doc["before"] = {"path": os.path.abspath(args.before), "sha256": digest,
                         "version": version.stdout.strip() or version.stderr.strip()}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
    return 0


# ---------------------------------------------------------------------------------- scan


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def files(args) -> int:
    import bench_lookup

    table = bench_lookup.load_table(args)
    tasks = list(table.scan().plan_files())
    if any(t.delete_files for t in tasks):
        sys.exit("the table has delete files: a scan of its data files would not be its rows")
    root = os.path.abspath(args.root) + os.sep
    paths = sorted(bench_lookup.local_path(t.file.file_path) for t in tasks)
    outside = [p for p in paths if not p.startswith(root)]
    if outside:
        sys.exit(f"data files outside {root}: {outside[:3]}")
    doc = {"files": [p[len(root):] for p in paths],
           "bytes": sum(t.file.file_size_in_bytes for t in tasks),
           "columns": [f.name for f in table.schema().fields]}
    print(json.dumps(doc, indent=2))
    return 0


def scan(args) -> int:
    import duckdb

    contenders = args.contenders.split()
    queries = {}
    for c in contenders:
        doc = _load(f"{args.results}/{c}-1.files.json")
        paths = [os.path.join(args.tables, c, p) for p in doc["files"]]
        sums = ", ".join(f"sum(hash({_ident(col)}))" for col in doc["columns"])
        query = f"SELECT count(*), {sums} FROM read_parquet([{{files}}])"
        queries[c] = (doc["columns"], query,
                      query.format(files=", ".join(_literal(p) for p in paths)))
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    secs = {c: [] for c in contenders}
    results = {c: set() for c in contenders}
    # Round 0 warms up and is not timed; each round starts one contender further on.
    for run in range(args.runs + 1):
        for i in range(len(contenders)):
            c = contenders[(run + i) % len(contenders)]
            started = time.perf_counter()
            row = con.execute(queries[c][2]).fetchone()
            if run:
                secs[c].append(time.perf_counter() - started)
            results[c].add(tuple(row))
    con.close()
    failed = 0
    for c in contenders:
        columns, query, _ = queries[c]
        if len(results[c]) != 1:
            sys.exit(f"DuckDB's scans of {c}'s files disagree: {results[c]}")
        row = results[c].pop()
        doc = {"rows": row[0], "column_hash_sums": {k: str(v) for k, v in zip(columns, row[1:])},
               "secs_runs": secs[c], "secs_median": statistics.median(secs[c]),
               "threads": threads, "duckdb_version": duckdb.__version__, "query": query}
        with open(f"{args.results}/{c}-1.scan.json", "w") as f:
            json.dump(doc, f, indent=2)
        if row[0] != args.expect_rows:
            print(f"error: DuckDB read {row[0]} rows of {c}'s table, expected {args.expect_rows}",
                  file=sys.stderr)
            failed = 1
    return failed


# ---------------------------------------------------------------------------------- report


def collect(results: str, name: str, meta_doc: dict) -> tuple:
    """bench_peers.collect's summary of one workload with each contender's DuckDB scan and
    lookups added, and the problems: rows that differ between the contenders."""
    import bench_lookup

    w = bench_peers.collect(results, name, meta_doc)
    d = os.path.join(results, name)
    ids = _load(f"{d}/ids.json")
    problems, lookups, hashes = [], {}, {}
    for c, r in w["contenders"].items():
        base = f"{d}/{c}-1"
        r["bytes"] = _load(f"{base}.inspect.json")["bytes"]
        sc = _load(f"{base}.scan.json")
        r["scan_secs"], r["scan_secs_runs"] = sc["secs_median"], sc["secs_runs"]
        if sc["rows"] != w["workload"]["total_rows"]:
            problems.append(f"{name}: DuckDB read {sc['rows']} rows of {c}'s table")
        hashes[c] = sc["column_hash_sums"]
        doc = _load(f"{base}.lookup.json")
        if [lk["trace_id"] for lk in doc["lookups"]] != ids["trace_ids"]:
            sys.exit(f"{name}: {c}'s lookups are not those of {d}/ids.json")
        r["lookup"] = bench_lookup.summarize_state(doc)
        lookups[c] = [lk["rows"] for lk in doc["lookups"]]
    first = next(iter(lookups))
    for c, rows in lookups.items():
        if rows != lookups[first] or 0 in rows:
            differ = sum(a != b or a == 0 for a, b in zip(rows, lookups[first]))
            problems.append(f"{name}: {differ} of {c}'s lookups return other rows than "
                            f"{first}'s, or none")
    for c, h in hashes.items():
        cols = [k for k in h if h[k] != hashes[first][k]]
        if cols:
            problems.append(f"{name}: DuckDB's hashes of {', '.join(cols)} differ between "
                            f"{c}'s table and {first}'s")
    w["lookup_ids"] = {k: v for k, v in ids.items() if k != "trace_ids"}
    return w, problems


def targets(name: str, res: dict, before: bool) -> list:
    """(verdict, text, value) of each target on one workload: PASS or MISS."""
    out = []

    def ratio(text, num, den, limit, note=""):
        value = num / den
        out.append(("PASS" if value <= limit else "MISS",
                    f"{name:<10} {text}: {value:.2f} (target <= {limit:.2f}{note})", value))

    spark = res["spark-sort"]
    for ours in ("ours-sorted", "ours-unsorted"):
        ratio(f"bytes {ours} / spark-sort", res[ours]["bytes"], spark["bytes"], SPARK_BYTES)
        if res[ours]["codecs"] != spark["codecs"]:
            v, text, value = out[-1]
            out[-1] = (v, text + f" [codecs differ: {res[ours]['codecs']} vs {spark['codecs']}]",
                       value)
    if before:
        ratio("lookup bytes ours-sorted / before-sorted",
              res["ours-sorted"]["lookup"]["bytes_per_lookup"],
              res["before-sorted"]["lookup"]["bytes_per_lookup"], 1.0)
        for variant in ("unsorted", "sorted"):
            ratio(f"DuckDB scan time ours-{variant} / before-{variant}",
                  res[f"ours-{variant}"]["scan_secs"], res[f"before-{variant}"]["scan_secs"],
                  SCAN_NOISE, note="; the 10% is the noise allowance")
    return out


def report(args) -> int:
    meta_doc = _load(f"{args.results}/meta.json")
    data, problems = {}, []
    for n in bench_peers.workloads_run(args.results):
        data[n], found = collect(args.results, n, meta_doc)
        problems += found
    before = meta_doc["before"] is not None
    lines = bench_peers.workload_lines(data)
    if before:
        b = meta_doc["before"]
        lines.append(f"  before: {b['path']} ({b['version']}, sha256 {b['sha256'][:12]})")
    lines.append("")
    lines.append(f"one run of each contender; bytes, files and row groups of the live data files; "
                 f"scan: DuckDB reading every column of every live file, median of "
                 f"{meta_doc['scan_runs']} (min-max); lookup: mean of {meta_doc['lookups']} "
                 "trace ids, what a reader pruning by file bounds and row-group statistics reads")
    lines.append(f"{'workload':<10} {'contender':<16}{'MiB out':>9}{'files':>6}{'row groups':>11}"
                 f"{'per file':>9}{'scan s':>8}{'(min-max)':>14}{'lookup KiB':>11}"
                 f"{'lookup RGs':>11}{'compact s':>10}  codec")
    for n, w in data.items():
        for c in meta_doc["contenders"]:
            r = w["contenders"][c]
            runs = r["scan_secs_runs"]
            spread = f"{min(runs):.3f}-{max(runs):.3f}"
            lk = r["lookup"]
            lines.append(f"{n:<10} {c:<16}{r['bytes'] / MIB:>9.2f}{r['files']:>6}"
                         f"{r['row_groups']:>11}{r['row_groups'] / r['files']:>9.1f}"
                         f"{r['scan_secs']:>8.3f}{spread:>14}"
                         f"{lk['bytes_per_lookup'] / 1024:>11.1f}"
                         f"{lk['row_groups_per_lookup']:>11.2f}{r['seconds']:>10.2f}"
                         f"  {','.join(r['codecs'])}")
    ratios = []
    if before:
        lines.append("")
        lines.append("ratios to the --before build (this run):")
        for n, w in data.items():
            res = w["contenders"]
            for variant in ("unsorted", "sorted"):
                ours, old = res[f"ours-{variant}"], res[f"before-{variant}"]
                value = ours["bytes"] / old["bytes"]
                ratios.append({"workload": n, "ratio": f"bytes ours-{variant} / before-{variant}",
                               "value": value})
                lines.append(f"  {n:<10} bytes ours-{variant} / before-{variant}: {value:.3f}"
                             f"   (lookup bytes {ours['lookup']['bytes_per_lookup'] / old['lookup']['bytes_per_lookup']:.3f},"
                             f" scan time {ours['scan_secs'] / old['scan_secs']:.2f})")
    lines.append("")
    lines.append("targets:")
    verdicts = []
    for n, w in data.items():
        for verdict, text, value in targets(n, w["contenders"], before):
            verdicts.append({"workload": n, "verdict": verdict, "check": text, "value": value})
            lines.append(f"  {verdict:<5} {text}")
    if not before:
        lines.append("  N/A   lookup bytes and DuckDB scan time against an earlier build: "
                     "no --before=PATH given")
    for p in problems:
        lines.append(f"  FAIL  {p}")
    print("\n".join(lines))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"meta": meta_doc, "workloads": data, "ratios": ratios, "targets": verdicts,
                   "problems": problems}, f, indent=2)
    return 1 if problems else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("meta")
    m.add_argument("--out", required=True)
    m.add_argument("--contenders", required=True, help="space-separated contender names")
    m.add_argument("--quick", action="store_true")
    m.add_argument("--git-rev", default="unknown")
    m.add_argument("--before", help="the --before build of the compactor")
    m.add_argument("--lookups", type=int, required=True)
    m.add_argument("--scan-runs", type=int, required=True)
    f = sub.add_parser("files")
    f.add_argument("--catalog-name", default="signaldb")
    f.add_argument("--uri", required=True, help="sqlite:////abs/catalog.db")
    f.add_argument("--warehouse", required=True, help="file:///abs/warehouse")
    f.add_argument("--table", required=True, metavar="TENANT.DATASET.TABLE")
    f.add_argument("--root", required=True, help="the directory the paths are made relative to")
    s = sub.add_parser("scan")
    s.add_argument("--results", required=True, help="the workload's directory of results")
    s.add_argument("--tables", required=True, help="holds each contender's ROOT as CONTENDER/")
    s.add_argument("--contenders", required=True, help="space-separated contender names")
    s.add_argument("--expect-rows", type=int, required=True)
    s.add_argument("--runs", type=int, default=5)
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--out", required=True)
    args = p.parse_args()
    return {"meta": meta, "files": files, "scan": scan, "report": report}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
