#!/usr/bin/env bash
# A one-command demo of the compactor on sample data, in a fresh directory:
#
#   scripts/demo.sh              # builds the binaries, runs the demo under a temp directory
#   scripts/demo.sh --dir PATH   # ... under PATH (kept afterwards)
#   scripts/demo.sh --layout signaldb   # SignalDB's own layout: 8 tables (metrics_*, profiles)
#
# It writes a few days of small files for one tenant (every signal) with signaldb-loadgen, prints
# each table's health (`compactor status`), runs one pass of every job (`compactor run --once`:
# compaction, retention, orphan cleanup), and prints a before/after table of files, bytes,
# manifests and snapshots per table, then the health of each table.
# SIGNALDB_DEMO_BIN_DIR=DIR uses the binaries in DIR instead of building them.
# --layout classic|signaldb (default classic) chooses the tables' layout (docs/tables.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR=""
LAYOUT=classic
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dir) DIR="$2"; shift 2 ;;
        --layout) LAYOUT="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
if [[ -z "$DIR" ]]; then
    DIR="$(mktemp -d "${TMPDIR:-/tmp}/signaldb-demo.XXXXXX")"
fi
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

BIN="${SIGNALDB_DEMO_BIN_DIR:-}"
if [[ -z "$BIN" ]]; then
    (cd "$ROOT" && cargo build --quiet --bins -p compactor -p signal-producer)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
fi

# Retention and orphan cleanup on, small targets so the sample data compacts.
cat > "$DIR/signaldb.toml" <<TOML
[schema]
catalog_uri = "sqlite://$DIR/catalog.db"

[storage]
dsn = "file://$DIR/warehouse"

[compactor]
min_input_files = 3
target_file_size_bytes = 1048576
small_file_threshold_bytes = 786432

[compactor.retention]
enabled = true

[compactor.orphan_cleanup]
enabled = true
TOML
export SIGNALDB_CONFIG="$DIR/signaldb.toml"
export RUST_LOG="${RUST_LOG:-warn}"

# 8 hours ending 3 days and 6 hours ago: past the 3-day log retention, within traces' 7 and
# metrics' 30 days.
END="$(date -u -d '-78 hours' +%Y-%m-%dT%H:00:00Z)"
echo "== writing sample data into $DIR (8 hours ending $END, 10 files per hour per table)"
if [[ $LAYOUT == signaldb ]]; then SIGNALS=traces,logs,metrics,profiles; else SIGNALS=traces,logs,metrics; fi
"$BIN/signaldb-loadgen" --layout "$LAYOUT" --tenants demo --datasets prod --signals "$SIGNALS" \
    --hours 8 --files-per-hour 10 --rows-per-file 200 --end-time "$END" --seed 1 >/dev/null

"$BIN/compactor" status --json > "$DIR/before.json" || true
echo "== before"
"$BIN/compactor" status || true
echo "== compactor run --once (compaction, retention, orphan cleanup)"
"$BIN/compactor" run --once
"$BIN/compactor" status --json > "$DIR/after.json" || true

echo "== before -> after"
python3 - "$DIR/before.json" "$DIR/after.json" <<'PY'
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
def tables(doc):
    return {f"{t['tenant']}.{t['dataset']}.{t['table']}": t for t in doc["tables"]}
b, a = tables(before), tables(after)
w = max([20] + [len(n) for n in b])
print(f"{'table':<{w}} {'files':>11} {'MiB':>13} {'manifests':>11} {'snapshots':>11}  health")
for name in sorted(b):
    s0, s1 = b[name].get("state") or {}, a[name].get("state") or {}
    cell = lambda k, f=lambda v: str(v): f"{f(s0.get(k, 0))} -> {f(s1.get(k, 0))}"
    mib = lambda v: f"{v / 1048576:.1f}"
    h0, h1 = b[name]["health"], a[name]["health"]
    health = f"{h0['score']} -> {h1['score']} ({'healthy' if h1['healthy'] else 'UNHEALTHY'})"
    print(f"{name:<{w}} {cell('data_files'):>11} {cell('data_bytes', mib):>13} "
          f"{cell('manifests'):>11} {cell('snapshots'):>11}  {health}")
PY
echo "== after"
"$BIN/compactor" status
echo "(the demo's files are in $DIR)"
