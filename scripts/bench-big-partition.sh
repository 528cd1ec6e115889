#!/usr/bin/env bash
# Peak memory and sort cost of compacting one large hour partition: the issue's "a 2 GiB
# partition must compact in well under 512 MiB of RSS", with sorted output (the default), flat
# as the partition grows, and at most 1.5x the time of an unsorted compaction. Runs `compactor
# compact` (default target and threshold sizes, max_concurrent_jobs = 1) on one hour of about
# PARTITION_GIB GiB, sorted and, on a copy of the same loaded state, unsorted
# (SIGNALDB_COMPACTOR_SORT_ENABLED=false), and in the same run sorted on one hour a quarter of
# that size. Prints peak RSS and time of all three and their ratios. See docs/benchmarks.md.
#
#   scripts/bench-big-partition.sh              # 2 GiB and 0.5 GiB partitions (about 10 minutes;
#                                               # sorted runs spill to $TMPDIR: free space needed)
#   PARTITION_GIB=1 scripts/bench-big-partition.sh
#
# Writes target/bench/big-partition/{small,large,large-unsorted}/ (loadgen summary, measure
# JSON, report, log) and target/bench/big-partition/summary.json.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
log() { printf '[bench] %s\n' "$*" >&2; }

PARTITION_GIB="${PARTITION_GIB:-2}"
# loadgen traces files of 100,000 rows are about 3.7 MiB, so 2 GiB is about 550 files.
ROWS_PER_FILE=100000
LARGE_FILES=$(( PARTITION_GIB * 1024 * 100 / 370 ))
SMALL_FILES=$(( LARGE_FILES / 4 ))

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
RESULTS="$TARGET_DIR/bench/big-partition"

log "cargo build --release --bins -p signal-producer -p compactor -p compaction-bench"
cargo build --release --bins -p signal-producer -p compactor -p compaction-bench

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-big-partition.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
rm -rf "$RESULTS"

# compact NAME STATE CONF SORT_ENABLED: `compactor compact --json` on STATE under
# compaction-bench measure, its files in RESULTS/NAME/.
compact() {
    local name="$1" state="$2" conf="$3" enabled="$4" dir="$RESULTS/$1"
    mkdir -p "$dir"
    log "$name: $(du -sh "$state/warehouse" | cut -f1) in the warehouse; compactor compact" \
        "(SIGNALDB_COMPACTOR_SORT_ENABLED=$enabled)"
    "$BIN/compaction-bench" measure --out "$dir/ours.measure.json" --stdout "$dir/ours.out.json" \
        -- env SIGNALDB_COMPACTOR_SORT_ENABLED="$enabled" \
        "$BIN/compactor" --config "$conf" compact --json 2>"$dir/ours.log" \
        || die "compactor failed (log: $dir/ours.log)"
}

for spec in "small:$SMALL_FILES" "large:$LARGE_FILES"; do
    name="${spec%%:*}" files="${spec#*:}" dir="$RESULTS/${spec%%:*}"
    state="$WORK/$name"
    mkdir -p "$dir" "$state"
    conf="$WORK/$name.toml"
    cat > "$conf" <<TOML
[compactor]
metrics_port = 0
max_concurrent_jobs = 1

[compactor.sort]
spill_dir = "$WORK/spill"

[storage]
dsn = "file://$state/warehouse"

[schema]
catalog_uri = "sqlite://$state/catalog.db"
TOML
    log "$name: loadgen 1 hour x $files files x $ROWS_PER_FILE rows"
    "$BIN/signaldb-loadgen" --config "$conf" --tenants acme --datasets prod --signals traces \
        --hours 1 --files-per-hour "$files" --rows-per-file "$ROWS_PER_FILE" --seed 42 \
        --end-time 2024-03-05T14:20:00Z --json >"$dir/loadgen.json" 2>"$dir/loadgen.log" \
        || die "loadgen failed (log: $dir/loadgen.log)"
    if [[ $name == large ]]; then
        # The unsorted run gets a copy of the same loaded state, at the same absolute path
        # (Iceberg metadata holds absolute file locations).
        cp -a "$state" "$WORK/large-pristine"
        compact large "$state" "$conf" true
        rm -rf "$state"
        mv "$WORK/large-pristine" "$state"
        compact large-unsorted "$state" "$conf" false
    else
        compact "$name" "$state" "$conf" true
    fi
    rm -rf "$state"
done

python3 - "$RESULTS" <<'PY'
import json, sys
root = sys.argv[1]
rows = {}


def spilled(node):
    """The sum of every `spilled_runs` in a report (groups that spilled sorted runs)."""
    if isinstance(node, dict):
        return sum(v if k == "spilled_runs" and isinstance(v, int) else spilled(v)
                   for k, v in node.items())
    if isinstance(node, list):
        return sum(spilled(v) for v in node)
    return 0


for name in ("small", "large", "large-unsorted"):
    m = json.load(open(f"{root}/{name}/ours.measure.json"))
    out = json.load(open(f"{root}/{name}/ours.out.json"))
    tables = [t for r in out.get("reports", [out]) for t in r["tables"]]
    ex = [t["details"]["execution"] for t in tables]
    sort = [t["details"].get("sort") for t in tables]
    if any(s is None for s in sort) != (name == "large-unsorted"):
        sys.exit(f"{name}: the plan's sort is {sort}")
    rows[name] = dict(
        rows=sum(e["rows"] for e in ex),
        gib_in=sum(e["bytes_rewritten"] for e in ex) / 2**30,
        files=f'{sum(e["files_removed"] for e in ex)} -> {sum(e["files_added"] for e in ex)}',
        sorted=name != "large-unsorted", spilled_runs=spilled(ex),
        seconds=m["wall_secs"], rss_mib=m["peak_rss_bytes"] / 2**20)
print(f'{"partition":<16}{"sorted":>7}{"rows":>12}{"GiB in":>9}{"files":>14}{"spilled runs":>14}'
      f'{"seconds":>9}{"peak RSS MiB":>14}')
for name, r in rows.items():
    print(f'{name:<16}{"yes" if r["sorted"] else "no":>7}{r["rows"]:>12}{r["gib_in"]:>9.2f}'
          f'{r["files"]:>14}{r["spilled_runs"]:>14}{r["seconds"]:>9.1f}{r["rss_mib"]:>14.1f}')
small, large, unsorted = rows["small"], rows["large"], rows["large-unsorted"]
flat = large["rss_mib"] / small["rss_mib"]
size = large["gib_in"] / small["gib_in"]
cost = large["seconds"] / unsorted["seconds"]
rss = large["rss_mib"] / unsorted["rss_mib"]
print(f'peak RSS sorted large / sorted small: {flat:.2f} (partition {size:.1f}x larger)')
print(f'peak RSS sorted / unsorted, large: {rss:.2f} ({large["rss_mib"]:.1f} / {unsorted["rss_mib"]:.1f} MiB)')
print(f'time sorted / unsorted, large: {cost:.2f} ({large["seconds"]:.1f} / {unsorted["seconds"]:.1f} s)')
targets = [
    (large["rss_mib"] < 512, f'peak RSS of the sorted {large["gib_in"]:.2f} GiB partition < 512 MiB'),
    (flat <= 1.25, f'peak RSS sorted large / small {flat:.2f} <= 1.25 (flat as the partition grows)'),
    (cost <= 1.5, f'time sorted / unsorted on the large partition {cost:.2f} <= 1.5 (sort cost)'),
]
for ok, line in targets:
    print(f'{"PASS" if ok else "MISS"} {line}')
summary = {"partitions": rows,
           "ratios": {"rss_large_over_small": flat, "partition_large_over_small": size,
                      "time_sorted_over_unsorted": cost, "rss_sorted_over_unsorted": rss},
           "targets": [{"result": "PASS" if ok else "MISS", "what": line} for ok, line in targets]}
json.dump(summary, open(f"{root}/summary.json", "w"), indent=2)
PY
