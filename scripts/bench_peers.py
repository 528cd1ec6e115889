#!/usr/bin/env python3
"""The peer benchmark's Python parts (scripts/bench-peers.sh): measuring a process tree, running
each peer compactor on a table, and reading what a compaction left in the table.

    bench_peers.py measure --out M.json -- COMMAND...          # any Python (stdlib only)
    bench_peers.py zamboni  --uri U --warehouse W --table T [--sort COLS]     # zamboni venv
    bench_peers.py nimtable --rest-uri URL --warehouse W --table T            # nimtable venv
    bench_peers.py spark    --uri U --warehouse W --table T --jars J --strategy sort|binpack
                            [--sort COLS]                                    # Spark venv
    bench_peers.py inspect  --uri U --warehouse W --table T --expect-rows N  # test venv

`measure` runs COMMAND (its stdin, stdout and stderr are this process's) and samples, every
--interval seconds (default 0.05), every process descended from it: the sum of their VmRSS, and
each one's VmHWM. Peak RSS is the largest of: the largest sum seen, the largest VmHWM seen of
any one process, and the command's own ru_maxrss from wait4 (exact for a single process, which
sampling can miss). A JVM started by pyspark is a descendant, so it is counted with its Python
driver. Writes {"wall_secs", "peak_rss_bytes", "peak_rss_sum_bytes", "max_hwm_bytes",
"root_maxrss_bytes", "samples", "processes", "exit_code"} to --out and exits with the
command's status.

The peer commands print one JSON object on stdout: what the peer reported, and "seconds", the
time of the compaction call itself (for Spark: without starting the JVM or the session).
COLS is a comma-separated column list, every column ascending with nulls first.

`inspect` reads the table's current snapshot: live data files, their bytes (the manifests'
file_size_in_bytes), their Parquet row groups and compression codecs (from the footers), the
rows the manifests list and the rows a full scan streams; it exits 1 unless both row counts
equal --expect-rows or a live file is a delete file.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
GIB = 1 << 30
MIB = 1 << 20


# ---------------------------------------------------------------------------------- measure


def _ppids() -> dict:
    """{pid: ppid} of every process now."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: fields follow the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        out[int(name)] = int(fields[1])
    return out


def _tree(root: int) -> list:
    parents = _ppids()
    children = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def _rss_hwm(pid: int):
    """(VmRSS, VmHWM) of pid in bytes, or None when it is gone (or a zombie)."""
    rss = hwm = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
    except OSError:
        return None
    return None if rss is None else (rss, hwm or rss)


def measure(args) -> int:
    if not args.command or args.command[0] != "--" or len(args.command) < 2:
        sys.exit("measure: give the command after --")
    command = args.command[1:]
    started = time.monotonic()
    proc = subprocess.Popen(command)
    peak_sum = max_hwm = samples = 0
    seen = set()
    status = rusage = None
    while status is None:
        total = 0
        for pid in _tree(proc.pid):
            got = _rss_hwm(pid)
            if got is None:
                continue
            seen.add(pid)
            total += got[0]
            max_hwm = max(max_hwm, got[1])
        peak_sum = max(peak_sum, total)
        samples += 1
        pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            status, rusage = st, ru
            break
        time.sleep(args.interval)
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    root_maxrss = rusage.ru_maxrss * 1024
    result = {"wall_secs": wall, "peak_rss_bytes": max(peak_sum, max_hwm, root_maxrss),
              "peak_rss_sum_bytes": peak_sum, "max_hwm_bytes": max_hwm,
              "root_maxrss_bytes": root_maxrss, "samples": samples, "processes": len(seen),
              "exit_code": code, "command": command}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0 if code == 0 else (code if code > 0 else 128 - code)


# ---------------------------------------------------------------------------------- peers


def sort_columns(cols: str) -> list:
    return [c.strip() for c in cols.split(",") if c.strip()] if cols else []


def run_zamboni(args) -> dict:
    from zamboni.compactor import TableCompactor
    from zamboni.config import CompactionConfig
    from zamboni.session import CatalogSession

    warehouse = args.warehouse.removeprefix("file://")
    session = CatalogSession.for_local(warehouse_path=warehouse, uri=args.uri,
                                       name=args.catalog_name, threads=args.threads)
    cols = sort_columns(args.sort)
    config = CompactionConfig(
        target_file_size_bytes=512 * MIB,
        # Every hour is long closed, but the default (1) holds back partitions by window count.
        skip_partitions_newer_than_windows=None,
        min_input_files=2,
        sort_expression=", ".join(f'"{c}" ASC NULLS FIRST' for c in cols) or None,
    )
    started = time.perf_counter()
    result = TableCompactor(session, args.table, config).execute(dry_run=False)
    seconds = time.perf_counter() - started
    session.close()
    return {"seconds": seconds, "threads": args.threads, "sort": cols,
            "result": json.loads(json.dumps(result.as_dict(), default=str))}


def run_nimtable(args) -> dict:
    from iceberg_compaction import Compaction, CompactionConfig, RestCatalog

    catalog = RestCatalog(args.catalog_name, uri=args.rest_uri, warehouse=args.warehouse)
    config = CompactionConfig(
        strategy="full",
        target_file_size_bytes=4 * GIB,
        small_file_threshold_bytes=GIB,
        max_file_count_per_partition=1_000_000,
        min_size_per_partition=0,
    )
    started = time.perf_counter()
    result = Compaction(catalog, args.table, config).run()
    seconds = time.perf_counter() - started
    if result is None:
        sys.exit("nimtable: the compaction did nothing (it returned None)")
    return {"seconds": seconds, "config": repr(config),
            "result": {k: getattr(result, k) for k in
                       ("input_files_count", "output_files_count", "input_bytes_total",
                        "output_bytes_total")}}


def run_spark(args) -> dict:
    started_all = time.perf_counter()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    if not args.uri.startswith("sqlite:///"):
        sys.exit(f"spark: only SQLite catalogs, not {args.uri}")
    prefix = f"spark.sql.catalog.{args.catalog_name}"
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("signaldb-bench-peers")
        .config("spark.jars", args.jars)
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.extensions",
                "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config(prefix, "org.apache.iceberg.spark.SparkCatalog")
        .config(f"{prefix}.type", "jdbc")
        .config(f"{prefix}.uri", "jdbc:sqlite:" + args.uri[len("sqlite:///"):])
        .config(f"{prefix}.warehouse", args.warehouse)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    session_secs = time.perf_counter() - started_all
    cols = sort_columns(args.sort)
    options = {"target-file-size-bytes": str(4 * GIB), "rewrite-all": "true"}
    opts = ", ".join(f"'{k}', '{v}'" for k, v in options.items())
    call = (f"CALL {args.catalog_name}.system.rewrite_data_files(table => '{args.table}', "
            f"strategy => '{args.strategy}', options => map({opts})")
    if args.strategy == "sort":
        if not cols:
            sys.exit("spark: the sort strategy needs --sort")
        call += ", sort_order => '" + ", ".join(f"{c} ASC NULLS FIRST" for c in cols) + "'"
    call += ")"
    started = time.perf_counter()
    row = spark.sql(call).collect()[0].asDict()
    seconds = time.perf_counter() - started
    spark.stop()
    return {"seconds": seconds, "session_secs": session_secs, "call": call, "result": row}


# ---------------------------------------------------------------------------------- inspect


def default_sort_columns(table) -> list:
    """The columns of the table's default sort order (all ascending, nulls first, identity), or
    [] when it has none; exits when it has one the peers could not be given as a column list."""
    from pyiceberg.table.sorting import NullOrder, SortDirection
    from pyiceberg.transforms import IdentityTransform

    order = table.sort_order()
    schema = table.schema()
    cols = []
    for f in order.fields:
        if (not isinstance(f.transform, IdentityTransform) or f.direction != SortDirection.ASC
                or f.null_order != NullOrder.NULLS_FIRST):
            sys.exit(f"the table's sort order {order} is not a list of ascending columns")
        cols.append(schema.find_column_name(f.source_id))
    return cols


def inspect(args) -> int:
    import pyarrow.parquet as pq
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog(args.catalog_name, uri=args.uri, warehouse=args.warehouse)
    table = catalog.load_table(tuple(args.table.split(".")))
    files = table.inspect.files().to_pylist()
    problems = [f"{f['file_path']} is a delete file" for f in files if f["content"] != 0]
    row_groups, codecs, per_partition = 0, set(), {}
    for f in files:
        meta = pq.ParquetFile(f["file_path"].removeprefix("file://")).metadata
        row_groups += meta.num_row_groups
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            codecs.update(group.column(c).compression for c in range(group.num_columns))
        key = json.dumps(f["partition"], sort_keys=True, default=str)
        per_partition[key] = per_partition.get(key, 0) + 1
    listed = sum(f["record_count"] for f in files)
    scanned = sum(b.num_rows for b in table.scan().to_arrow_batch_reader())
    if listed != args.expect_rows or scanned != args.expect_rows:
        problems.append(f"the manifests list {listed} rows and a scan reads {scanned}, "
                        f"expected {args.expect_rows}")
    result = {"rows": scanned, "rows_listed": listed, "files": len(files),
              "bytes": sum(f["file_size_in_bytes"] for f in files), "row_groups": row_groups,
              "codecs": sorted(codecs), "partitions": len(per_partition),
              "max_files_per_partition": max(per_partition.values(), default=0),
              "snapshots": len(table.metadata.snapshots),
              "snapshot_id": table.metadata.current_snapshot_id,
              "sort_order_columns": default_sort_columns(table),
              "problems": problems}
    print(json.dumps(result, indent=2))
    if problems:
        print(f"error: {'; '.join(problems)}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------- report

LABELS = {
    "ours-unsorted": "ours unsorted", "ours-sorted": "ours sorted",
    "nimtable": "nimtable iceberg-compaction", "zamboni": "zamboni",
    "zamboni-sorted": "zamboni sorted", "spark-binpack": "Spark binpack",
    "spark-sort": "Spark sort",
}
PEERS = ("nimtable", "zamboni", "zamboni-sorted", "spark-binpack", "spark-sort")
# Builds of our compactor: this tree's, and the --before build of scripts/bench-storage.sh.
OURS = ("ours-", "before-")


def _load(path):
    with open(path) as f:
        return json.load(f)


def _ours_tables(out: dict) -> list:
    return [t for r in out.get("reports", [out]) for t in r["tables"]]


def collect(root: str, workload: str, meta: dict) -> dict:
    """{contender: summary} of one workload's directory; exits on an inconsistent result."""
    import statistics

    d = os.path.join(root, workload)
    wl = _load(f"{d}/workload.json")
    sort_cols = open(f"{d}/sort-columns").read().split()[0].split(",")
    res = {}
    for c in meta["contenders"]:
        na = f"{d}/{c}.na"
        if os.path.exists(na):
            res[c] = {"na": open(na).read().strip() or "failed (see its log)"}
            continue
        runs = []
        for run in range(1, meta["runs"] + 1):
            base = f"{d}/{c}-{run}"
            if not os.path.exists(f"{base}.inspect.json"):
                sys.exit(f"{workload}: {c} run {run} left no results ({base}.*)")
            m, out, ins = (_load(f"{base}.measure.json"), _load(f"{base}.out.json"),
                           _load(f"{base}.inspect.json"))
            if ins["rows"] != wl["total_rows"] or ins["problems"]:
                sys.exit(f"{workload}: {c} run {run}: {ins['rows']} rows, {ins['problems']}")
            if ins["files"] >= _load(f"{d}/before.inspect.json")["files"]:
                sys.exit(f"{workload}: {c} run {run} did not reduce the files ({ins['files']})")
            if c.startswith(OURS):
                for t in _ours_tables(out):
                    order = t["details"].get("sort")
                    if (order is None) != c.endswith("-unsorted"):
                        sys.exit(f"{workload}: {c} run {run}: the plan's sort is {order}")
                    if order is not None:
                        got = [col["column"] for col in order["columns"]]
                        if got != sort_cols:
                            sys.exit(f"{workload}: {c} sorted by {got}, the peers by {sort_cols}")
                if ins["max_files_per_partition"] != 1:
                    sys.exit(f"{workload}: {c} run {run} left "
                             f"{ins['max_files_per_partition']} files in an hour")
            runs.append((m, out, ins))
        secs = [m["wall_secs"] for m, _, _ in runs]
        rss = [m["peak_rss_bytes"] for m, _, _ in runs]
        ins = runs[0][2]
        r = {"seconds": statistics.median(secs), "seconds_runs": secs,
             "rss_mib": statistics.median(rss) / MIB, "rss_mib_runs": [x / MIB for x in rss],
             "processes": max(m["processes"] for m, _, _ in runs),
             "mib_out": ins["bytes"] / MIB, "files": ins["files"],
             "row_groups": ins["row_groups"], "codecs": ins["codecs"], "rows": ins["rows"],
             "max_files_per_partition": ins["max_files_per_partition"]}
        if c.startswith("spark"):
            r["call_seconds"] = statistics.median(out["seconds"] for _, out, _ in runs)
        res[c] = r
    return {"workload": wl, "sort_columns": sort_cols,
            "before": _load(f"{d}/before.inspect.json"), "contenders": res}


def targets(name: str, res: dict) -> list:
    """(verdict, text) of each target on one workload: PASS, MISS or N/A."""
    out = []

    def get(c):
        r = res.get(c)
        return None if r is None or "na" in r else r

    def why(c):
        r = res.get(c)
        return "not run" if r is None else r["na"]

    def ratio(text, num, den, limit, le=True):
        a, b = get(num[0]), get(den[0])
        if a is None or b is None:
            missing = num[0] if a is None else den[0]
            out.append(("N/A", f"{text} ({missing}: {why(missing)})"))
            return
        value = a[num[1]] / b[den[1]]
        ok = value <= limit if le else value >= limit
        out.append(("PASS" if ok else "MISS",
                    f"{text}: {value:.2f} (target {'<=' if le else '>='} {limit})"))

    for peer in ("nimtable", "zamboni"):
        ratio(f"{name:<10} time {peer} / ours unsorted", (peer, "seconds"),
              ("ours-unsorted", "seconds"), 2.0, le=False)
    for peer in ("spark-sort", "zamboni-sorted"):
        ratio(f"{name:<10} time {peer} / ours sorted", (peer, "seconds"),
              ("ours-sorted", "seconds"), 2.0, le=False)
    peers = {c: get(c) for c in PEERS if get(c) is not None}
    if peers:
        low = min(peers, key=lambda c: peers[c]["rss_mib"])
        for ours in ("ours-unsorted", "ours-sorted"):
            ratio(f"{name:<10} peak RSS {ours} / lowest peer's ({low})", (ours, "rss_mib"),
                  (low, "rss_mib"), 0.5)
    else:
        out.append(("N/A", f"{name:<10} peak RSS ours / lowest peer's (no peer ran)"))
    for ours, spark in (("ours-unsorted", "spark-binpack"), ("ours-sorted", "spark-sort")):
        ratio(f"{name:<10} output bytes {ours} / {spark}", (ours, "mib_out"),
              (spark, "mib_out"), 0.9)
        a, b = get(ours), get(spark)
        if a and b and a["codecs"] != b["codecs"]:
            out[-1] = (out[-1][0], out[-1][1] + f" [codecs differ: {a['codecs']} vs {b['codecs']}]")
    if name == "large":
        ratio(f"{name:<10} time ours sorted / ours unsorted", ("ours-sorted", "seconds"),
              ("ours-unsorted", "seconds"), 1.3)
    return out


def workloads_run(results: str) -> list:
    """The workloads the run in `results` loaded, in the order the scripts run them."""
    return [n for n in ("ingestion", "small", "large", "signaldb")
            if os.path.exists(f"{results}/{n}/workload.json")]


def workload_lines(data: dict) -> list:
    """The report's first lines: each workload of {name: collect(...)} as it was loaded."""
    lines = ["workloads (one acme.prod.traces table each; the peers sort by the order ours does):"]
    for n, w in data.items():
        wl = w["workload"]
        lines.append(f"  {n:<10}{wl['layout']:<9}{wl['hours']} hours x {wl['files_per_hour']} files"
                     f" x {wl['rows_per_file']} rows = {wl['total_rows']} rows in "
                     f"{w['before']['files']} files, {w['before']['bytes'] / MIB:.1f} MiB; "
                     f"sorted by {','.join(w['sort_columns'])}")
    return lines


def report(args) -> int:
    meta = _load(f"{args.results}/meta.json")
    data = {n: collect(args.results, n, meta) for n in workloads_run(args.results)}
    lines = workload_lines(data)
    lines.append("")
    lines.append(f"medians of {meta['runs']} run(s); seconds and peak RSS of the whole process "
                 "tree; output read back from the table")
    head = (f"{'workload':<10} {'contender':<15}{'seconds':>8}{'(call)':>8}{'peak RSS MiB':>13}"
            f"{'MiB out':>9}{'files':>6}{'row groups':>11}{'rows':>9}  codec")
    lines.append(head)
    for n, w in data.items():
        for c in meta["contenders"]:
            r = w["contenders"][c]
            if "na" in r:
                lines.append(f"{n:<10} {c:<15}   N/A: {r['na']}")
                continue
            call = f"{r['call_seconds']:.2f}" if "call_seconds" in r else "-"
            lines.append(f"{n:<10} {c:<15}{r['seconds']:>8.2f}{call:>8}{r['rss_mib']:>13.0f}"
                         f"{r['mib_out']:>9.1f}{r['files']:>6}{r['row_groups']:>11}{r['rows']:>9}"
                         f"  {','.join(r['codecs'])}")
    lines.append("")
    lines.append("| workload | " + " | ".join(LABELS[c] for c in meta["contenders"]) + " |")
    lines.append("|---" * (len(meta["contenders"]) + 1) + "|")
    for n, w in data.items():
        wl = w["workload"]
        cells = []
        for c in meta["contenders"]:
            r = w["contenders"][c]
            if "na" in r:
                cells.append("N/A")
                continue
            cell = f"{r['seconds']:.2f} s, {r['rss_mib']:,.0f} MiB, {r['mib_out']:.1f} MiB out"
            if "call_seconds" in r:
                cell += f" ({r['call_seconds']:.2f} s without JVM start)"
            cells.append(cell)
        label = (f"{n} {wl['hours']} h x {wl['files_per_hour']} x {wl['rows_per_file']:,} rows")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("targets:")
    verdicts = []
    for n, w in data.items():
        for verdict, text in targets(n, w["contenders"]):
            verdicts.append({"workload": n, "verdict": verdict, "check": text})
            lines.append(f"  {verdict:<5} {text}")
    for n, w in data.items():
        for c, r in w["contenders"].items():
            if "na" in r:
                lines.append(f"  N/A   {n}: {c} cannot run: {r['na']}")
    print("\n".join(lines))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "workloads": data, "targets": verdicts}, f, indent=2)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--out", required=True)
    m.add_argument("--interval", type=float, default=0.05)
    m.add_argument("command", nargs=argparse.REMAINDER)
    for name in ("zamboni", "nimtable", "spark", "inspect"):
        s = sub.add_parser(name)
        s.add_argument("--catalog-name", default="signaldb")
        s.add_argument("--warehouse", required=True, help="file:///abs/warehouse")
        s.add_argument("--table", required=True, metavar="TENANT.DATASET.TABLE")
        if name == "nimtable":
            s.add_argument("--rest-uri", required=True)
        else:
            s.add_argument("--uri", required=True, help="sqlite:////abs/catalog.db")
        if name in ("zamboni", "spark"):
            s.add_argument("--sort", default="", help="comma-separated sort columns")
        if name == "zamboni":
            s.add_argument("--threads", type=int, default=os.cpu_count())
        if name == "spark":
            s.add_argument("--jars", required=True)
            s.add_argument("--strategy", choices=["sort", "binpack"], required=True)
        if name == "inspect":
            s.add_argument("--expect-rows", type=int, required=True)
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--out", required=True)
    args = p.parse_args()
    if args.mode == "report":
        return report(args)
    if args.mode == "measure":
        return measure(args)
    if args.mode == "inspect":
        return inspect(args)
    result = {"zamboni": run_zamboni, "nimtable": run_nimtable, "spark": run_spark}[args.mode](args)
    result["peak_rss_self_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
