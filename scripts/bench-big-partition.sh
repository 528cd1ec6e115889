#!/usr/bin/env bash
# Peak memory of compacting one large hour partition: the issue's "a 2 GiB partition must compact
# in well under 512 MiB of RSS". Runs `compactor compact` (default target and threshold sizes) on
# one hour of about PARTITION_GIB GiB and, in the same run, on one hour a quarter of that size,
# and prints both peak RSS values and their ratio. See docs/benchmarks.md.
#
#   scripts/bench-big-partition.sh              # 2 GiB and 0.5 GiB partitions (about 8 minutes)
#   PARTITION_GIB=1 scripts/bench-big-partition.sh
#
# Writes target/bench/big-partition/{small,large}/ (loadgen summary, measure JSON, report, log).
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

for spec in "small:$SMALL_FILES" "large:$LARGE_FILES"; do
    name="${spec%%:*}" files="${spec#*:}" dir="$RESULTS/${spec%%:*}"
    state="$WORK/$name"
    mkdir -p "$dir" "$state"
    conf="$state/signaldb.toml"
    cat > "$conf" <<TOML
[compactor]
metrics_port = 0
max_concurrent_jobs = 1

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
    log "$name: $(du -sh "$state/warehouse" | cut -f1) written; compactor compact"
    "$BIN/compaction-bench" measure --out "$dir/ours.measure.json" --stdout "$dir/ours.out.json" \
        -- "$BIN/compactor" --config "$conf" compact --json 2>"$dir/ours.log" \
        || die "compactor failed (log: $dir/ours.log)"
    rm -rf "$state"
done

python3 - "$RESULTS" <<'PY'
import json, sys
root = sys.argv[1]
rows = {}
for name in ("small", "large"):
    m = json.load(open(f"{root}/{name}/ours.measure.json"))
    out = json.load(open(f"{root}/{name}/ours.out.json"))
    ex = [t["details"]["execution"] for r in out.get("reports", [out]) for t in r["tables"]]
    rows[name] = dict(
        rows=sum(e["rows"] for e in ex),
        gib_in=sum(e["bytes_rewritten"] for e in ex) / 2**30,
        files=f'{sum(e["files_removed"] for e in ex)} -> {sum(e["files_added"] for e in ex)}',
        seconds=m["wall_secs"], rss_mib=m["peak_rss_bytes"] / 2**20)
print(f'{"partition":<10}{"rows":>12}{"GiB in":>9}{"files":>14}{"seconds":>9}{"peak RSS MiB":>14}')
for name, r in rows.items():
    print(f'{name:<10}{r["rows"]:>12}{r["gib_in"]:>9.2f}{r["files"]:>14}{r["seconds"]:>9.1f}{r["rss_mib"]:>14.1f}')
ratio = rows["large"]["rss_mib"] / rows["small"]["rss_mib"]
size = rows["large"]["gib_in"] / rows["small"]["gib_in"]
print(f'peak RSS large / small: {ratio:.2f} (partition {size:.1f}x larger)')
verdict = "PASS" if rows["large"]["rss_mib"] < 512 else "MISS"
print(f'{verdict} peak RSS of the {rows["large"]["gib_in"]:.2f} GiB partition < 512 MiB')
json.dump(rows, open(f"{root}/summary.json", "w"), indent=2)
PY
