#!/usr/bin/env bash
# The peer benchmark (issue 29): our compactor against the other Iceberg compactors that run
# here, on identical copies of the same tables, one output file per hour as the goal for all:
# ours unsorted and sorted (`compactor compact`), nimtable's iceberg-compaction (through a
# loopback REST catalog, scripts/rest_catalog.py), zamboni unsorted and sorted, and Spark 3.5 +
# Iceberg 1.10 `rewrite_data_files` (binpack and sort). Workloads: ingestion, small and large
# (loadgen, classic traces table) and SignalDB's own layout (traces). Each contender's whole
# process tree is measured (wall time, peak RSS), and the table it leaves is read back (bytes,
# files, row groups, rows). See docs/benchmarks.md.
#
#   scripts/bench-peers.sh                       # full run, medians of 3 (about 30 minutes)
#   scripts/bench-peers.sh --quick               # smaller workloads, 1 run each
#   scripts/bench-peers.sh --keep                # keep the temporary directory
#   scripts/bench-peers.sh --only=large,signaldb # only these workloads
#   scripts/bench-peers.sh --peers=ours,spark    # only these contenders (names or families)
#
# Prints the results tables and PASS/MISS lines, writes target/bench/peers.json (raw measurements
# in target/bench/peers-run/). Exits non-zero when a contender fails or changes the row count;
# a missed target is MISS, not a failure; a peer that cannot run on SignalDB's layout is N/A.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
# shellcheck source=scripts/lib/bench_common.sh
source scripts/lib/bench_common.sh
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
log() { printf '[bench] %s\n' "$*" >&2; }

ALL_CONTENDERS=(ours-unsorted ours-sorted nimtable zamboni zamboni-sorted spark-binpack spark-sort)
QUICK=0 ONLY="" PEERS=""
KEEP=0  # read by bench_cleanup (scripts/lib/bench_common.sh)
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        --only=*) ONLY="${arg#--only=}" ;;
        --peers=*) PEERS="${arg#--peers=}" ;;
        -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (try --help)" ;;
    esac
done

# The contenders of this run: --peers names contenders or families (ours, nimtable, zamboni,
# spark); every contender by default.
CONTENDERS=()
for c in "${ALL_CONTENDERS[@]}"; do
    if [[ -z "$PEERS" || ",$PEERS," == *",$c,"* || ",$PEERS," == *",${c%%-*},"* ]]; then
        CONTENDERS+=("$c")
    fi
done
[[ ${#CONTENDERS[@]} -gt 0 ]] || die "--peers=$PEERS names no contender (${ALL_CONTENDERS[*]})"
wants() { [[ " ${CONTENDERS[*]} " == *" $1 "* ]]; }
wants_family() { [[ " ${CONTENDERS[*]} " == *" $1"* ]]; }

# One table per workload, acme.prod.traces, loadgen rows with a fixed seed, every hour closed.
#   name:layout:hours:files per hour:rows per file
TENANT=acme DATASET=prod SIGNAL=traces SEED=42 END_TIME=2024-03-05T14:20:00Z
TABLE="$TENANT.$DATASET.$SIGNAL"
if [[ $QUICK -eq 1 ]]; then
    RUNS=1
    WORKLOADS=("ingestion:classic:6:20:1000" "small:classic:2:10:2000" "large:classic:2:40:2000"
               "signaldb:signaldb:2:10:2000")
else
    RUNS=3
    WORKLOADS=("ingestion:classic:48:20:1000" "small:classic:4:40:5000"
               "large:classic:4:160:5000" "signaldb:signaldb:4:40:5000")
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
VENV_DIR="${SIGNALDB_TEST_VENV:-$ROOT/.venv-test}"
PEERS_VENV="$ROOT/.venv-bench-peers"
RESULTS="$TARGET_DIR/bench/peers-run"
OUT_JSON="$TARGET_DIR/bench/peers.json"

log "cargo build --release --bins -p signal-producer -p compactor"
cargo build --release --bins -p signal-producer -p compactor

# The test venv reads the tables (pyiceberg) and serves the REST catalog; each peer gets a venv
# of its own, created on the first run (scripts/requirements-peers-*.txt).
bench_venv "$VENV_DIR"
for family in nimtable zamboni spark; do
    if wants_family "$family"; then
        ensure_venv "$PEERS_VENV/$family" "scripts/requirements-peers-$family.txt"
    fi
done
SPARK_PYTHON="$PEERS_VENV/spark/bin/python"
if wants_family spark; then
    ensure_spark "$SPARK_PYTHON" || die "Spark with Iceberg is not available (see scripts/lib/services.sh)"
fi
VENV_PYTHON="$VENV_DIR/bin/python"

bench_workdir bench-peers
REST_PID=""
stop_rest() {
    if [[ -n "$REST_PID" ]]; then
        kill "$REST_PID" 2>/dev/null || true
        wait "$REST_PID" 2>/dev/null || true
        REST_PID=""
    fi
}
cleanup() { stop_rest; bench_cleanup; }
trap cleanup EXIT

STATE="$WORK/state"
PRISTINE="$WORK/pristine"
CONF="$WORK/signaldb.toml"
write_config "$CONF" "$STATE"
CATALOG=(--uri "sqlite:///$STATE/catalog.db" --warehouse "file://$STATE/warehouse" --table "$TABLE")

rm -rf "$RESULTS"
mkdir -p "$RESULTS"
"$VENV_PYTHON" - "$RESULTS/meta.json" "$QUICK" "$RUNS" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "${CONTENDERS[*]}" <<'PY'
import datetime, json, os, platform, sys
path, quick, runs, rev, contenders = sys.argv[1:]
json.dump({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "quick": quick == "1", "runs": int(runs), "git_rev": rev, "cpus": os.cpu_count(),
           "contenders": contenders.split(), "load_average_at_start": os.getloadavg(),
           "machine": platform.machine(), "kernel": platform.release()},
          open(path, "w"), indent=2)
PY

# start_rest DIR: the loopback REST catalog on STATE's catalog; sets REST_URI.
start_rest() {
    local dir="$1" port_file="$WORK/rest.port"
    rm -f "$port_file"
    "$VENV_PYTHON" scripts/rest_catalog.py --uri "sqlite:///$STATE/catalog.db" \
        --warehouse "file://$STATE/warehouse" --port-file "$port_file" \
        >>"$dir/rest-catalog.log" 2>&1 &
    REST_PID=$!
    for _ in $(seq 1 600); do
        [[ -s "$port_file" ]] && break
        kill -0 "$REST_PID" 2>/dev/null || die "the REST catalog did not start (log: $dir/rest-catalog.log)"
        sleep 0.1
    done
    [[ -s "$port_file" ]] || die "the REST catalog did not start within 60 s"
    REST_URI="http://127.0.0.1:$(cat "$port_file")"
}

# contender_command NAME: sets CMD to the command line of contender NAME on STATE.
contender_command() {
    case "$1" in
        ours-unsorted) CMD=(env SIGNALDB_COMPACTOR_SORT_ENABLED=false
                            "$BIN/compactor" --config "$CONF" compact --json) ;;
        ours-sorted) CMD=(env SIGNALDB_COMPACTOR_SORT_ENABLED=true
                          "$BIN/compactor" --config "$CONF" compact --json) ;;
        nimtable) CMD=("$PEERS_VENV/nimtable/bin/python" scripts/bench_peers.py nimtable
                       --rest-uri "$REST_URI" --warehouse "file://$STATE/warehouse" --table "$TABLE") ;;
        zamboni) CMD=("$PEERS_VENV/zamboni/bin/python" scripts/bench_peers.py zamboni "${CATALOG[@]}") ;;
        zamboni-sorted) CMD=("$PEERS_VENV/zamboni/bin/python" scripts/bench_peers.py zamboni
                             "${CATALOG[@]}" --sort "$SORT_COLUMNS") ;;
        spark-binpack) CMD=(env SPARK_LOCAL_IP=127.0.0.1 "$SPARK_PYTHON" scripts/bench_peers.py
                            spark "${CATALOG[@]}" --jars "$SPARK_JARS" --strategy binpack) ;;
        spark-sort) CMD=(env SPARK_LOCAL_IP=127.0.0.1 "$SPARK_PYTHON" scripts/bench_peers.py
                         spark "${CATALOG[@]}" --jars "$SPARK_JARS" --strategy sort
                         --sort "$SORT_COLUMNS") ;;
        *) die "unknown contender $1" ;;
    esac
}

# run_one DIR CONTENDER RUN TOLERANT ROWS: CONTENDER on a fresh copy of PRISTINE under the
# process-tree measurement, then the table it left read back. A failing peer on a TOLERANT
# workload (1) is recorded as N/A (DIR/CONTENDER.na holds why); anywhere else, and for ours
# always, it ends the script. A changed row count always ends the script.
run_one() {
    local dir="$1" name="$2" run="$3" tolerant="$4" rows="$5" base="$1/$2-$3"
    restore "$PRISTINE"
    [[ $name == nimtable ]] && start_rest "$dir"
    contender_command "$name"
    log "$(basename "$dir") run $run: $name"
    local ok=1
    "$VENV_PYTHON" scripts/bench_peers.py measure --out "$base.measure.json" -- "${CMD[@]}" \
        >"$base.out.json" 2>"$base.log" || ok=0
    stop_rest
    if [[ $ok -eq 1 && $name == ours-* ]] && grep -q 'not executed\|nothing was executed' "$base.out.json"; then
        ok=0
        echo "compactor compact did not execute the plan" >>"$base.log"
    fi
    if [[ $ok -eq 0 ]]; then
        tail -n 20 "$base.log" >&2
        if [[ $tolerant -eq 1 && $name != ours-* ]]; then
            log "$name cannot run on this workload: N/A (log: $base.log)"
            grep -v '^\s*$' "$base.log" | grep -iE 'error|exception|unsupported|not supported' \
                | tail -n 1 | cut -c1-300 >"$dir/$name.na" || true
            [[ -s "$dir/$name.na" ]] || tail -n 1 "$base.log" | cut -c1-300 >"$dir/$name.na"
            return 1
        fi
        die "$name failed (log: $base.log)"
    fi
    "$VENV_PYTHON" scripts/bench_peers.py inspect "${CATALOG[@]}" --expect-rows "$rows" \
        >"$base.inspect.json" 2>>"$base.log" \
        || die "$name changed the table's rows: see $base.inspect.json"
}

for spec in "${WORKLOADS[@]}"; do
    IFS=: read -r name layout hours files rows_per_file <<<"$spec"
    [[ -n "$ONLY" && ",$ONLY," != *",$name,"* ]] && continue
    dir="$RESULTS/$name"
    mkdir -p "$dir"
    rm -rf "$STATE" "$PRISTINE"
    mkdir -p "$STATE"
    log "$name: loadgen --layout $layout, $hours hours x $files files x $rows_per_file rows of $TABLE"
    loadgen "$CONF" "$dir" loadgen "$hours" "$files" "$rows_per_file" --layout "$layout"
    rows="$(write_workload "$dir" "$dir/loadgen.json" layout="$layout" hours="$hours" \
        files_per_hour="$files" rows_per_file="$rows_per_file")"
    "$VENV_PYTHON" scripts/bench_peers.py inspect "${CATALOG[@]}" --expect-rows "$rows" \
        >"$dir/before.inspect.json" || die "the loaded table does not hold $rows rows"
    # The peers sort by the order ours sorts by: the table's default sort order when it has
    # one (SignalDB's layout), else the compactor's default for traces.
    SORT_COLUMNS="$("$VENV_PYTHON" -c 'import json, sys
order = json.load(open(sys.argv[1]))["sort_order_columns"]
print(",".join(order) if order else "trace_id,timestamp")' "$dir/before.inspect.json")"
    echo "$SORT_COLUMNS" >"$dir/sort-columns"
    log "$name: $rows rows in $(du -sh "$STATE/warehouse" | cut -f1); peers sort by $SORT_COLUMNS"
    tolerant=0
    [[ $layout == signaldb ]] && tolerant=1
    mv "$STATE" "$PRISTINE"
    rm -f "$dir"/*.na
    for run in $(seq 1 "$RUNS"); do
        for c in "${CONTENDERS[@]}"; do
            [[ -e "$dir/$c.na" ]] && continue
            run_one "$dir" "$c" "$run" "$tolerant" "$rows" || true
        done
    done
    rm -rf "$PRISTINE" "$STATE"
done

"$VENV_PYTHON" scripts/bench_peers.py report --results "$RESULTS" --out "$OUT_JSON"
