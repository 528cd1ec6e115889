#!/usr/bin/env bash
# The cost of SignalDB's own table layout against the classic one: the same spans written by
# the load generator into classic `traces` (12 columns, attributes as JSON strings) and into
# SignalDB's `traces` (30 columns, three map columns, timestamp_hour), each compacted (sorted by
# its table's order) by `compactor compact` under compaction-bench measure; then every one of
# SignalDB's eight tables compacted in one pass. Prints time, peak RSS, bytes and their ratios
# signaldb / classic. See docs/benchmarks.md.
#
#   scripts/bench-layouts.sh            # 4 hours x 40 files x 5,000 rows per table (a few minutes)
#   scripts/bench-layouts.sh --quick    # 2 hours x 10 files x 2,000 rows
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
log() { printf '[bench] %s\n' "$*" >&2; }

HOURS=4 FILES=40 ROWS=5000
for arg in "$@"; do
    case "$arg" in
        --quick) HOURS=2 FILES=10 ROWS=2000 ;;
        -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (try --help)" ;;
    esac
done

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
RESULTS="$TARGET_DIR/bench/layouts"
log "cargo build --release --bins -p signal-producer -p compactor -p compaction-bench"
cargo build --release --bins -p signal-producer -p compactor -p compaction-bench

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-layouts.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
rm -rf "$RESULTS"

# run NAME LAYOUT SIGNALS: loads SIGNALS in LAYOUT into a fresh catalog and warehouse, then
# compacts every table once; the loadgen summary and the measurement go to RESULTS/NAME/.
run() {
    local name="$1" layout="$2" signals="$3" dir="$RESULTS/$1" state="$WORK/$1"
    mkdir -p "$dir" "$state"
    write_config "$state/signaldb.toml" "$state" "max_concurrent_jobs = 1"
    log "$name: loadgen --layout $layout --signals $signals, $HOURS hours x $FILES files x $ROWS rows"
    "$BIN/signaldb-loadgen" --config "$state/signaldb.toml" --layout "$layout" \
        --tenants acme --datasets prod --signals "$signals" --hours "$HOURS" \
        --files-per-hour "$FILES" --rows-per-file "$ROWS" --seed 42 \
        --end-time 2024-03-05T14:20:00Z --json >"$dir/loadgen.json" 2>"$dir/loadgen.log" \
        || die "loadgen failed (log: $dir/loadgen.log)"
    log "$name: $(du -sh "$state/warehouse" | cut -f1) in the warehouse; compactor compact"
    "$BIN/compaction-bench" measure --out "$dir/measure.json" --stdout "$dir/out.json" \
        -- "$BIN/compactor" --config "$state/signaldb.toml" compact --json 2>"$dir/compact.log" \
        || die "compactor failed (log: $dir/compact.log)"
    rm -rf "$state"
}

run classic-traces classic traces
run signaldb-traces signaldb traces
run signaldb-all signaldb traces,logs,metrics,profiles

python3 - "$RESULTS" <<'PY'
import json, sys
root = sys.argv[1]
res = {}
for name in ("classic-traces", "signaldb-traces", "signaldb-all"):
    m = json.load(open(f"{root}/{name}/measure.json"))
    out = json.load(open(f"{root}/{name}/out.json"))
    tables = [t for r in out["reports"] for t in r["tables"]]
    bad = [t for t in tables if t["error"] or not t["details"].get("execution")]
    if bad or out["failures"]:
        sys.exit(f"{name}: failed tables {bad}")
    ex = [t["details"]["execution"] for t in tables]
    res[name] = dict(
        tables=len(tables), rows=sum(e["rows"] for e in ex),
        mib_in=sum(e["bytes_rewritten"] for e in ex) / 2**20,
        mib_out=sum(e["bytes_written"] for e in ex) / 2**20,
        files=f'{sum(e["files_removed"] for e in ex)} -> {sum(e["files_added"] for e in ex)}',
        seconds=m["wall_secs"], rss_mib=m["peak_rss_bytes"] / 2**20)
print(f'{"run":<17}{"tables":>7}{"rows":>10}{"files":>12}{"MiB in":>9}{"MiB out":>9}'
      f'{"seconds":>9}{"rows/s":>10}{"peak RSS MiB":>14}')
for name, r in res.items():
    print(f'{name:<17}{r["tables"]:>7}{r["rows"]:>10}{r["files"]:>12}{r["mib_in"]:>9.1f}'
          f'{r["mib_out"]:>9.1f}{r["seconds"]:>9.2f}{r["rows"] / r["seconds"]:>10.0f}'
          f'{r["rss_mib"]:>14.0f}')
c, s = res["classic-traces"], res["signaldb-traces"]
print(f'signaldb / classic traces, per row: time {s["seconds"] / s["rows"] / (c["seconds"] / c["rows"]):.2f}x, '
      f'bytes in {s["mib_in"] / c["mib_in"]:.2f}x, peak RSS {s["rss_mib"] / c["rss_mib"]:.2f}x')
json.dump(res, open(f"{root}/layouts.json", "w"), indent=2)
PY
