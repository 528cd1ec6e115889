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
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh

ALL_CONTENDERS=(ours-unsorted ours-sorted nimtable zamboni zamboni-sorted spark-binpack spark-sort)
peers_args peers "$@"
PEERS="$OPTION_VALUE"

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

peers_paths peers

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

peers_workdir peers
cleanup() { stop_rest; bench_cleanup; }
trap cleanup EXIT
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

for spec in "${WORKLOADS[@]}"; do
    IFS=: read -r name layout hours files rows_per_file <<<"$spec"
    [[ -n "$ONLY" && ",$ONLY," != *",$name,"* ]] && continue
    dir="$RESULTS/$name"
    load_peer_workload "$dir" "$layout" "$hours" "$files" "$rows_per_file"
    tolerant=0
    [[ $layout == signaldb ]] && tolerant=1
    rm -f "$dir"/*.na
    for run in $(seq 1 "$RUNS"); do
        for c in "${CONTENDERS[@]}"; do
            [[ -e "$dir/$c.na" ]] && continue
            run_one "$dir" "$c" "$run" "$tolerant" "$ROWS" || true
        done
    done
    rm -rf "$PRISTINE" "$STATE"
done

"$VENV_PYTHON" scripts/bench_peers.py report --results "$RESULTS" --out "$OUT_JSON"
