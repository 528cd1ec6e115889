#!/usr/bin/env bash
# The storage benchmark (issue 29, "storage efficiency"): what our compacted files cost at rest
# and to read, against Spark's and against an earlier build of ours, on identical copies of the
# same tables: ours unsorted and sorted (`compactor compact` of this tree), the same two of the
# --before build, and Spark 3.5 + Iceberg 1.10 `rewrite_data_files` (sort). Per table it left:
# data bytes, files, row groups, a DuckDB full scan (median of 5) and the bytes trace-id lookups
# read (scripts/bench_lookup.py). Workloads: ingestion, small and large (loadgen, classic traces
# table), as scripts/bench-peers.sh loads them. See docs/benchmarks.md.
#
#   scripts/bench-storage.sh                        # full run, one run of each contender
#   scripts/bench-storage.sh --quick                # smaller workloads
#   scripts/bench-storage.sh --keep                 # keep the temporary directory
#   scripts/bench-storage.sh --only=large,small     # only these workloads
#   scripts/bench-storage.sh --before=PATH          # also another `compactor` binary, e.g. one
#                                                   # built from an earlier revision
#   LOOKUPS=20 scripts/bench-storage.sh --quick     # fewer trace ids (default 50)
#
# Prints the results table, the ratios and PASS/MISS lines, writes target/bench/storage.json
# (raw results in target/bench/storage-run/). Exits non-zero when a step fails or a table, a
# scan or a lookup does not hold the loaded rows; a missed target is MISS, not a failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh

peers_args before "$@"
BEFORE_BIN="$OPTION_VALUE"
if [[ -n "$BEFORE_BIN" ]]; then
    [[ -x "$BEFORE_BIN" && -f "$BEFORE_BIN" ]] || die "--before=$BEFORE_BIN is not an executable file"
    BEFORE_BIN="$(cd "$(dirname "$BEFORE_BIN")" && pwd)/$(basename "$BEFORE_BIN")"
fi

CONTENDERS=(ours-unsorted ours-sorted)
[[ -n "$BEFORE_BIN" ]] && CONTENDERS+=(before-unsorted before-sorted)
CONTENDERS+=(spark-sort)

# One table per workload, acme.prod.traces, loadgen rows with a fixed seed, every hour closed:
# bench-peers.sh's classic workloads.   name:hours:files per hour:rows per file
TENANT=acme DATASET=prod SIGNAL=traces SEED=42 END_TIME=2024-03-05T14:20:00Z
TABLE="$TENANT.$DATASET.$SIGNAL"
if [[ $QUICK -eq 1 ]]; then
    WORKLOADS=("ingestion:6:20:1000" "small:2:10:2000" "large:2:40:2000")
else
    WORKLOADS=("ingestion:48:20:1000" "small:4:40:5000" "large:4:160:5000")
fi
ONLY_KNOWN=""
for spec in "${WORKLOADS[@]}"; do
    ONLY_KNOWN+=",${spec%%:*}"
done
for name in ${ONLY//,/ }; do
    [[ "$ONLY_KNOWN," == *",$name,"* ]] || die "--only: no workload $name (${ONLY_KNOWN#,})"
done
# Trace ids looked up per table (drawn with SEED from the loaded table), DuckDB scans per table.
LOOKUPS="${LOOKUPS:-50}"
SCAN_RUNS=5

peers_paths storage

# The test venv reads the tables (pyiceberg, DuckDB); Spark runs from bench-peers.sh's venv.
bench_venv "$VENV_DIR"
ensure_venv "$PEERS_VENV/spark" scripts/requirements-peers-spark.txt
SPARK_PYTHON="$PEERS_VENV/spark/bin/python"
ensure_spark "$SPARK_PYTHON" || die "Spark with Iceberg is not available (see scripts/lib/services.sh)"
VENV_PYTHON="$VENV_DIR/bin/python"

peers_workdir storage
meta=(--out "$RESULTS/meta.json" --contenders "${CONTENDERS[*]}" --lookups "$LOOKUPS"
      --scan-runs "$SCAN_RUNS" --git-rev "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")
[[ $QUICK -eq 1 ]] && meta+=(--quick)
[[ -n "$BEFORE_BIN" ]] && meta+=(--before "$BEFORE_BIN")
"$VENV_PYTHON" scripts/bench_storage.py meta "${meta[@]}"

# read_table DIR CONTENDER: the lookups on STATE's table as the contender left it
# (DIR/CONTENDER-1.lookup.json) and its live data files (.files.json); STATE then moves to
# TABLES/CONTENDER for the DuckDB scans.
read_table() {
    local dir="$1" name="$2" base="$1/$2-1"
    log "$(basename "$dir"): $name: $LOOKUPS lookups"
    "$VENV_PYTHON" scripts/bench_lookup.py measure "${CATALOG[@]}" --ids "$dir/ids.json" \
        --state "$name" >"$base.lookup.json" 2>>"$base.log" \
        || die "the lookups on $name's table failed (log: $base.log)"
    "$VENV_PYTHON" scripts/bench_storage.py files "${CATALOG[@]}" --root "$STATE" \
        >"$base.files.json" 2>>"$base.log" || die "could not list $name's files (log: $base.log)"
    mv "$STATE" "$TABLES/$name"
}

TABLES="$WORK/tables"
for spec in "${WORKLOADS[@]}"; do
    IFS=: read -r name hours files rows_per_file <<<"$spec"
    [[ -n "$ONLY" && ",$ONLY," != *",$name,"* ]] && continue
    dir="$RESULTS/$name"
    load_peer_workload "$dir" classic "$hours" "$files" "$rows_per_file"
    restore "$PRISTINE"
    log "$name: picking $LOOKUPS trace ids (seed $SEED)"
    "$VENV_PYTHON" scripts/bench_lookup.py pick "${CATALOG[@]}" --count "$LOOKUPS" \
        --seed "$SEED" >"$dir/ids.json" || die "could not pick the trace ids"
    mkdir -p "$TABLES"
    for c in "${CONTENDERS[@]}"; do
        run_one "$dir" "$c" 1 0 "$ROWS"
        read_table "$dir" "$c"
    done
    log "$name: DuckDB scans, $SCAN_RUNS rounds over the contenders' tables"
    "$VENV_PYTHON" scripts/bench_storage.py scan --results "$dir" --tables "$TABLES" \
        --contenders "${CONTENDERS[*]}" --expect-rows "$ROWS" --runs "$SCAN_RUNS" \
        2>"$dir/scan.log" || die "DuckDB's scans failed (log: $dir/scan.log)"
    rm -rf "$PRISTINE" "$STATE" "$TABLES"
done

"$VENV_PYTHON" scripts/bench_storage.py report --results "$RESULTS" --out "$OUT_JSON"
