#!/usr/bin/env bash
# The fleet benchmark: idle `compactor compact` passes over many tables on PostgreSQL.
# D datasets in SignalDB's layout (8 tables each: traces, logs, five metrics_*, profiles), one
# small file per table, nothing to compact. Times three passes, each its own process as cron
# or a one-shot command would run it: the first loads every table (what every pass cost
# before idle tables were left unloaded), the second must load none, and after new files
# land in one table the third must compact that table alone. Prints ms per table and PASS/MISS
# for "<= 1 ms per table on PostgreSQL"; exits 1 when the changed table is not compacted.
#
#   scripts/bench-fleet.sh            # 1,000 datasets: 8,000 tables
#   scripts/bench-fleet.sh --quick    # 25 datasets: 200 tables
#   scripts/bench-fleet.sh --datasets N
#   scripts/bench-fleet.sh --keep     # keep the temporary directory and print where it is
#   scripts/bench-fleet.sh --debug    # debug binaries (no release build; slower loads)
#   scripts/bench-fleet.sh --no-build # use the binaries already built
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and creates and drops a database
# named bench_fleet_*. Writes target/bench/fleet.json.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

DATASETS=1000
KEEP=0
PROFILE=release
BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) DATASETS=25 ;;
        --datasets) DATASETS="${2:?--datasets needs a number}"; shift ;;
        --keep) KEEP=1 ;;
        --debug) PROFILE=debug ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (try --help)" ;;
    esac
    shift
done
# Datasets are tenants t0000… with one dataset each; the setup writes them in this many
# loader processes at once.
LOADERS=4
PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=postgres
PSQL=(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -q -t -A)
"${PSQL[@]}" -c 'SELECT 1' >/dev/null || die "PostgreSQL is not reachable on $PG_HOST:$PG_PORT"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/$PROFILE"
OUT_JSON="$TARGET_DIR/bench/fleet.json"
PROFILE_FLAG=()
[[ $PROFILE == release ]] && PROFILE_FLAG=(--release)
if [[ $BUILD -eq 1 ]]; then
    log "cargo build ${PROFILE_FLAG[*]} --bins -p signal-producer -p compactor"
    cargo build "${PROFILE_FLAG[@]}" --bins -p signal-producer -p compactor
fi
[[ -x "$BIN/compactor" && -x "$BIN/signaldb-loadgen" ]] || die "no $PROFILE binaries in $BIN"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-fleet.XXXXXX")"
DB="bench_fleet_$$"
cleanup() {
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS \"$DB\"" >/dev/null 2>&1 || true
    if [[ $KEEP -eq 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
"${PSQL[@]}" -c "CREATE DATABASE \"$DB\"" >/dev/null

CONFIG="$WORK/signaldb.toml"
cat > "$CONFIG" <<CONF
[compactor]
metrics_port = 0
min_input_files = 2
full_check_interval_secs = 3600

[storage]
dsn = "file://$WORK/warehouse"

[schema]
catalog_uri = "postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB"
catalog_name = "signaldb"
CONF

# loadgen ARGS…: the load generator on the benchmark's catalog, one closed hour long past.
loadgen() {
    "$BIN/signaldb-loadgen" --config "$CONFIG" --layout signaldb --datasets prod \
        --hours 1 --rows-per-file 20 --seed 5 "$@"
}

TABLES=$((DATASETS * 8))
log "creating $DATASETS datasets x 8 tables = $TABLES tables, one file each ($LOADERS loaders)"
setup_start=$(date +%s.%N)
# The first dataset alone creates the catalog's tables (connecting at once races on them).
loadgen --tenants t0000 --files-per-hour 1 --end-time 2026-01-15T12:00:00Z --json \
    > "$WORK/load-first.json" 2> "$WORK/load-first.log" \
    || { tail -n 20 "$WORK/load-first.log" >&2; die "the setup failed"; }
pids=()
for ((l = 0; l < LOADERS; l++)); do
    tenants=$(seq -f 't%04g' $((l + 1)) "$LOADERS" $((DATASETS - 1)) | paste -sd, -)
    [[ -n "$tenants" ]] || continue
    loadgen --tenants "$tenants" --files-per-hour 1 --end-time 2026-01-15T12:00:00Z --json \
        > "$WORK/load-$l.json" 2> "$WORK/load-$l.log" &
    pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[[ $failed -eq 0 ]] || { tail -n 20 "$WORK"/load-*.log >&2; die "the setup failed"; }
setup_secs=$(echo "$(date +%s.%N) - $setup_start" | bc)
log "setup took ${setup_secs}s"

# pass NAME: one `compactor compact --json` process, its report in $WORK/NAME.json and its
# wall time (process start to exit) in $WORK/NAME.wall.
pass() {
    local start end
    start=$(date +%s.%N)
    RUST_LOG=warn "$BIN/compactor" --config "$CONFIG" compact --json \
        > "$WORK/$1.json" 2> "$WORK/$1.log" || { tail -n 20 "$WORK/$1.log" >&2; die "pass $1 failed"; }
    end=$(date +%s.%N)
    echo "$end - $start" | bc > "$WORK/$1.wall"
}

log "pass 1: every table is loaded (nothing found to do)"
pass first
log "pass 2: idle and unchanged, no table should be loaded"
pass second
log "3 new small files in t0000.prod.logs"
loadgen --tenants t0000 --signals logs --files-per-hour 3 --end-time 2026-01-15T14:00:00Z \
    > "$WORK/append.json" 2> "$WORK/append.log" || die "appending failed"
log "pass 3: the changed table alone is loaded, and compacted"
pass third

mkdir -p "$(dirname "$OUT_JSON")"
python3 - "$WORK" "$OUT_JSON" "$TABLES" "$setup_secs" "$PROFILE" <<'PY'
import json, sys
work, out_path, tables, setup_secs, profile = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
TARGET_MS = 1.0
passes = {}
for name in ("first", "second", "third"):
    doc = json.load(open(f"{work}/{name}.json"))
    report = doc["reports"][0]
    assert doc["failures"] == 0, f"pass {name} had failures: {doc}"
    loaded = len(report["tables"])
    passes[name] = {
        "loaded": loaded,
        "unchanged": report["unchanged"],
        "pass_secs": report["duration_secs"],
        "process_secs": float(open(f"{work}/{name}.wall").read()),
        "ms_per_table": report["duration_secs"] * 1000 / tables,
        "report": report,
    }
print(f"fleet: {tables} tables ({tables // 8} datasets in SignalDB's layout), PostgreSQL, {profile} binaries; setup {setup_secs:.1f} s")
print(f"{'pass':<7} {'loaded':>7} {'unchanged':>9} {'pass s':>8} {'process s':>9} {'ms/table':>9}")
for name, p in passes.items():
    print(f"{name:<7} {p['loaded']:>7} {p['unchanged']:>9} {p['pass_secs']:>8.3f} {p['process_secs']:>9.3f} {p['ms_per_table']:>9.3f}")
problems = []
first, second, third = passes["first"], passes["second"], passes["third"]
if (first["loaded"], first["unchanged"]) != (tables, 0):
    problems.append(f"pass 1 loaded {first['loaded']} of {tables} tables")
if (second["loaded"], second["unchanged"]) != (0, tables):
    problems.append(f"pass 2 loaded {second['loaded']} tables (expected none)")
changed = third["report"]["tables"]
compacted = [t for t in changed
             if (t["tenant"], t["table"]) == ("t0000", "logs")
             and ((t.get("details") or {}).get("execution") or {}).get("files_removed", 0) == 3]
if len(changed) != 1 or len(compacted) != 1 or third["unchanged"] != tables - 1:
    problems.append(f"pass 3 did not compact t0000.prod.logs alone: {json.dumps(changed)[:800]}")
ms = second["ms_per_table"]
verdict = "PASS" if ms <= TARGET_MS else "MISS"
print(f"idle pass over unchanged tables: {ms:.3f} ms per table (target <= {TARGET_MS} ms on PostgreSQL): {verdict}")
print(f"first pass (every table loaded): {first['ms_per_table']:.2f} ms per table; "
      f"{first['ms_per_table'] / ms if ms else float('inf'):.0f}x the idle pass")
compacted_ok = not any(p.startswith("pass 3") for p in problems)
print("the changed table: " + ("compacted by the next pass, alone (ok)" if compacted_ok else "NOT compacted alone"))
for p in passes.values():
    del p["report"]
doc = {"profile": profile, "tables": tables, "datasets": tables // 8, "setup_secs": setup_secs, "passes": passes,
       "target_ms_per_table": TARGET_MS, "idle_ms_per_table": ms, "verdict": verdict,
       "problems": problems}
json.dump(doc, open(out_path, "w"), indent=2)
print(f"results written to {out_path}")
if problems:
    for p in problems:
        print(f"FAIL: {p}")
    sys.exit(1)
PY
