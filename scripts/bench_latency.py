#!/usr/bin/env python3
"""Helpers of scripts/bench-latency.sh: keeping and restoring a loaded table on the S3 server,
and the summary with its PASS/MISS targets.

    bench_latency.py keep    --endpoint URL --bucket B --prefix P --catalog FILE
    bench_latency.py restore --endpoint URL --bucket B --prefix P --catalog FILE
    bench_latency.py summary --results DIR --out FILE [--baseline-label L]

`keep` copies every object under P/wh/ to P/pristine/ (server-side) and the catalog file to
FILE.pristine; `restore` puts both back, so every run starts from the same uncompacted table
at the same locations (Iceberg metadata holds absolute locations).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor

TARGETS = [
    # (shape, delay ms, most time as a multiple of the same shape's at 0 ms)
    ("ingestion", 20, 1.5),
    ("small", 20, 1.2),
    ("ingestion", 50, 2.0),
    ("small", 50, 2.0),
]
RSS_TARGET = 1.25


def s3_client(endpoint):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=32),
    )


def keys(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(o["Key"] for o in page.get("Contents", []))
    return out


def copy_prefix(s3, bucket, src, dst):
    """Replaces everything under dst/ by a copy of src/."""
    old = keys(s3, bucket, dst)
    for i in range(0, len(old), 1000):
        batch = [{"Key": k} for k in old[i : i + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    source = keys(s3, bucket, src)

    def one(key):
        s3.copy_object(
            Bucket=bucket, Key=dst + key[len(src) :], CopySource={"Bucket": bucket, "Key": key}
        )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, source))
    return len(source)


def keep(args):
    s3 = s3_client(args.endpoint)
    n = copy_prefix(s3, args.bucket, f"{args.prefix}/wh/", f"{args.prefix}/pristine/")
    shutil.copyfile(args.catalog, args.catalog + ".pristine")
    print(json.dumps({"objects": n}))


def restore(args):
    s3 = s3_client(args.endpoint)
    n = copy_prefix(s3, args.bucket, f"{args.prefix}/pristine/", f"{args.prefix}/wh/")
    shutil.copyfile(args.catalog + ".pristine", args.catalog)
    print(json.dumps({"objects": n}))


def load_runs(results):
    """{(label, shape, delay): [measurement + report]} from DIR/<label>/<shape>-d<D>-r<N>.*"""
    runs = {}
    for label in sorted(os.listdir(results)):
        d = os.path.join(results, label)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(".measure.json"):
                continue
            stem = name[: -len(".measure.json")]
            shape, delay, _ = stem.rsplit("-", 2)
            m = json.load(open(os.path.join(d, name)))
            report = json.load(open(os.path.join(d, stem + ".out.json")))
            runs.setdefault((label, shape, int(delay[1:])), []).append((m, report))
    return runs


def requests_of(report):
    """The pass's object-store requests by kind, when the report counts them."""
    counted = [r.get("requests") for r in report.get("reports", [])]
    counted = [c for c in counted if c]
    if not counted:
        return None
    kinds = ("get", "put", "list", "head", "delete")
    return {k: sum(c.get(k, 0) for c in counted) for k in kinds}


def summary(args):
    runs = load_runs(args.results)
    rows = {}
    for (label, shape, delay), ms in runs.items():
        walls = sorted(m["wall_secs"] for m, _ in ms)
        rows[(label, shape, delay)] = {
            "label": label,
            "shape": shape,
            "delay_ms": delay,
            "median_secs": statistics.median(walls),
            "runs_secs": walls,
            "peak_rss_mib": max(m["peak_rss_bytes"] for m, _ in ms) / 2**20,
            "requests": requests_of(ms[-1][1]),
        }
    labels = sorted({k[0] for k in rows}, key=lambda l: (l != "ours", l))
    shapes = sorted({k[1] for k in rows})
    delays = sorted({k[2] for k in rows})
    lines = []
    header = f"{'build':<10} {'shape':<10}" + "".join(f"{f'{d} ms':>16}" for d in delays)
    lines.append(header + f"{'peak RSS':>12}  requests (last run at 0 ms)")
    for label in labels:
        for shape in shapes:
            base = rows.get((label, shape, 0))
            cells = []
            for d in delays:
                r = rows.get((label, shape, d))
                if r is None:
                    cells.append(f"{'-':>16}")
                elif base is None or d == 0:
                    cells.append(f"{r['median_secs']:>9.2f} s     ")
                else:
                    ratio = r["median_secs"] / base["median_secs"]
                    r["ratio_to_0ms"] = ratio
                    cells.append(f"{r['median_secs']:>7.2f} s {ratio:>4.2f}x")
            rss = max(rows[(label, shape, d)]["peak_rss_mib"] for d in delays if (label, shape, d) in rows)
            req = base and base["requests"]
            req_text = (
                ", ".join(f"{v} {k.upper()}" for k, v in req.items() if v) if req else "not counted"
            )
            lines.append(f"{label:<10} {shape:<10}" + "".join(cells) + f"{rss:>9.0f} MiB  {req_text}")
    verdicts = []
    for shape, delay, most in TARGETS:
        r, base = rows.get(("ours", shape, delay)), rows.get(("ours", shape, 0))
        if r is None or base is None:
            continue
        ratio = r["median_secs"] / base["median_secs"]
        verdict = "PASS" if ratio <= most else "MISS"
        text = f"{verdict}  {shape} at {delay} ms: {ratio:.2f}x its time at 0 ms (target <= {most}x)"
        old = rows.get((args.baseline_label, shape, delay)), rows.get((args.baseline_label, shape, 0))
        if all(old):
            text += f"; {args.baseline_label}: {old[0]['median_secs'] / old[1]['median_secs']:.2f}x"
        verdicts.append({"verdict": verdict, "text": text})
    for shape in shapes:
        ours = [rows[k]["peak_rss_mib"] for k in rows if k[0] == "ours" and k[1] == shape]
        old = [rows[k]["peak_rss_mib"] for k in rows if k[0] == args.baseline_label and k[1] == shape]
        if ours and old:
            ratio = max(ours) / max(old)
            verdict = "PASS" if ratio <= RSS_TARGET else "MISS"
            verdicts.append(
                {
                    "verdict": verdict,
                    "text": f"{verdict}  {shape} peak RSS: {ratio:.2f}x {args.baseline_label}'s "
                    f"({max(ours):.0f} vs {max(old):.0f} MiB; target <= {RSS_TARGET}x)",
                }
            )
    for v in verdicts:
        lines.append(v["text"])
    print("\n".join(lines))
    json.dump(
        {"rows": list(rows.values()), "verdicts": verdicts},
        open(args.out, "w"),
        indent=2,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("keep", "restore"):
        p = sub.add_parser(name)
        p.add_argument("--endpoint", required=True)
        p.add_argument("--bucket", required=True)
        p.add_argument("--prefix", required=True)
        p.add_argument("--catalog", required=True)
    p = sub.add_parser("summary")
    p.add_argument("--results", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--baseline-label", default="baseline")
    args = parser.parse_args()
    {"keep": keep, "restore": restore, "summary": summary}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
