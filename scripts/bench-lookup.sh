#!/usr/bin/env bash
# Lookup cost of sorted compaction output (issue 15): what a trace-by-id lookup costs pyiceberg
# on one traces table before compaction, after unsorted compaction and after sorted compaction,
# and what the sort costs the compaction, all measured in one run. See docs/benchmarks.md.
#
#   scripts/bench-lookup.sh            # about 1 minute on 2 cores once built
#   scripts/bench-lookup.sh --keep     # keep the temporary directory and print where it is
#   LOOKUPS=20 REPEAT=1 scripts/bench-lookup.sh   # fewer lookups and compactions, for trying
#
# The table: signaldb-loadgen, 4 closed hours x 40 files x 2,000 rows of acme.prod.traces, in a
# SQLite catalog and local warehouse under $TMPDIR; `target_file_size_bytes` = 1 MiB (about 10
# output files per hour), `small_file_threshold_bytes` = 768 KiB. Every state starts from a copy
# of the same loaded state at the same absolute path. Prints the results table, the ratios and
# PASS/MISS lines, and writes them to target/bench/lookup/summary.json (raw measurements of the
# run beside it). Exits non-zero when a step fails or a lookup's rows differ between the states;
# a missed target is reported as MISS, not as a failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
# shellcheck source=scripts/lib/bench_common.sh
source scripts/lib/bench_common.sh
log() { printf '[bench] %s\n' "$*" >&2; }

KEEP=0
for arg in "$@"; do
    case "$arg" in
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (try --help)" ;;
    esac
done

TENANT=acme DATASET=prod SIGNAL=traces SEED=42 END_TIME=2024-03-05T14:20:00Z
HOURS=4 FILES_PER_HOUR=40 ROWS_PER_FILE=2000
# 100 trace ids drawn with a fixed seed; each compaction variant runs REPEAT times on a fresh
# copy (alternating which goes first) and the median wall time is used.
LOOKUPS="${LOOKUPS:-100}"
REPEAT="${REPEAT:-3}"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
VENV_DIR="${SIGNALDB_TEST_VENV:-$ROOT/.venv-test}"
RESULTS="$TARGET_DIR/bench/lookup"

log "cargo build --release --bins -p signal-producer -p compactor -p compaction-bench"
cargo build --release --bins -p signal-producer -p compactor -p compaction-bench

bench_venv "$VENV_DIR"

bench_workdir bench-lookup

STATE="$WORK/state"
PRISTINE="$WORK/pristine"
CONF="$WORK/signaldb.toml"
# The issue's setting: 1 MiB output files. The small-file threshold must be below the target
# (config validation); 768 KiB keeps the default's 3/4 ratio and makes every 2,000-row loadgen
# file (about 75 KiB) an input. Everything else is at its default, [compactor.sort] included.
cat > "$CONF" <<EOF
[compactor]
metrics_port = 0
target_file_size_bytes = 1048576
small_file_threshold_bytes = 786432

[storage]
dsn = "file://$STATE/warehouse"

[schema]
catalog_uri = "sqlite://$STATE/catalog.db"
catalog_name = "signaldb"
EOF
PY=("$VENV_PYTHON" scripts/bench_lookup.py --uri "sqlite:///$STATE/catalog.db"
    --warehouse "file://$STATE/warehouse" --table "$TENANT.$DATASET.$SIGNAL")

rm -rf "$RESULTS"
mkdir -p "$RESULTS" "$STATE"
"$VENV_PYTHON" - "$RESULTS/meta.json" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import datetime, json, os, platform, sys
json.dump({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "git_rev": sys.argv[2], "cpus": os.cpu_count(),
           "load_average_at_start": os.getloadavg(), "machine": platform.machine()},
          open(sys.argv[1], "w"), indent=2)
PY

log "loadgen $HOURS hours x $FILES_PER_HOUR files x $ROWS_PER_FILE rows of $TENANT.$DATASET.$SIGNAL"
"$BIN/signaldb-loadgen" --config "$CONF" --tenants "$TENANT" --datasets "$DATASET" \
    --signals "$SIGNAL" --hours "$HOURS" --files-per-hour "$FILES_PER_HOUR" \
    --rows-per-file "$ROWS_PER_FILE" --seed "$SEED" --end-time "$END_TIME" --json \
    >"$RESULTS/loadgen.json" 2>"$RESULTS/loadgen.log" \
    || die "loadgen failed (log: $RESULTS/loadgen.log)"
log "$(du -sh "$STATE/warehouse" | cut -f1) written"
mv "$STATE" "$PRISTINE"

# restore: makes STATE a fresh copy of the loaded state, at STATE's absolute path (Iceberg
# metadata holds absolute file locations).
restore() {
    rm -rf "$STATE"
    cp -a "$PRISTINE" "$STATE"
}

# lookups NAME: the lookup measurements of STATE's table as it is now.
lookups() {
    log "$1: $LOOKUPS lookups"
    "${PY[@]}" measure --ids "$RESULTS/ids.json" --state "$1" >"$RESULTS/$1.lookup.json" \
        2>"$RESULTS/$1.lookup.log" || die "lookups on $1 failed (log: $RESULTS/$1.lookup.log)"
}

# compact VARIANT RUN: `compactor compact --json` on STATE under compaction-bench measure,
# unsorted with SIGNALDB_COMPACTOR_SORT_ENABLED=false; checks that the output was (un)sorted.
compact() {
    local variant="$1" run="$2" enabled=true name="$1-$2"
    [[ $variant == unsorted ]] && enabled=false
    log "$name: compactor compact (SIGNALDB_COMPACTOR_SORT_ENABLED=$enabled)"
    if ! "$BIN/compaction-bench" measure --out "$RESULTS/$name.measure.json" \
        --stdout "$RESULTS/$name.out.json" -- env SIGNALDB_COMPACTOR_SORT_ENABLED="$enabled" \
        "$BIN/compactor" --config "$CONF" compact --json 2>"$RESULTS/$name.log"; then
        tail -n 30 "$RESULTS/$name.log" >&2
        die "$name failed (log: $RESULTS/$name.log)"
    fi
    "$VENV_PYTHON" - "$RESULTS/$name.out.json" "$variant" <<'PY' || die "$name: see $RESULTS/$name.out.json"
import json, sys
out, variant = json.load(open(sys.argv[1])), sys.argv[2]
tables = [t for r in out.get("reports", [out]) for t in r["tables"]]
for t in tables:
    d = t["details"]
    ex = d["execution"]
    if not ex["files_added"]:
        sys.exit(f"{variant}: nothing was compacted")
    if (d.get("sort") is None) != (variant == "unsorted"):
        sys.exit(f"{variant}: the plan's sort is {d.get('sort')}")
PY
}

restore
log "picking $LOOKUPS trace ids (seed $SEED)"
"${PY[@]}" pick --count "$LOOKUPS" --seed "$SEED" >"$RESULTS/ids.json" \
    || die "could not pick the trace ids"
lookups before

for run in $(seq 1 "$REPEAT"); do
    order=(unsorted sorted)
    if (( run % 2 == 0 )); then order=(sorted unsorted); fi
    for variant in "${order[@]}"; do
        restore
        compact "$variant" "$run"
        if [[ $run -eq 1 ]]; then lookups "$variant"; fi
    done
done
rm -rf "$STATE"

"$VENV_PYTHON" scripts/bench_lookup.py report --results "$RESULTS" --out "$RESULTS/summary.json"
