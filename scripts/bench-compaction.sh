#!/usr/bin/env bash
# The compaction benchmark: our compactor (with one job and with the default jobs) against (a) a
# bare arrow-rs read-all-then-write-one-file of the same input and (b) pyiceberg's per-partition
# overwrite, on four workloads: small and large (loadgen, hour partitions 4x apart in size), the
# ingestion shape (loadgen, many hours of small files) and the streaming shape (hundreds of
# pyiceberg appends into one hour). See docs/benchmarks.md.
#
#   scripts/bench-compaction.sh            # full run (about 9 minutes on 2 cores once built)
#   scripts/bench-compaction.sh --quick    # smaller workloads (about 1 minute)
#   scripts/bench-compaction.sh --keep     # keep the temporary directory and print where it is
#   scripts/bench-compaction.sh --only=ingestion,streaming   # only these workloads
#
# Prints the results table and writes it to target/bench/compaction.json; the raw measurements
# of the run are in target/bench/compaction-run/. Exits non-zero when a contender fails or
# changes the row count; a target that is missed is reported as MISS, not as a failure.
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

QUICK=0
KEEP=0
ONLY=""
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        --only=*) ONLY="${arg#--only=}" ;;
        -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (try --help)" ;;
    esac
done

# The workloads, each one table, quiet hours (the end time is long past), fixed seed:
#   small, large  loadgen; large has 4x the files per hour of small, so 4x larger partitions;
#   ingestion     loadgen, the ingestion shape: many closed hours of 20 files of 1,000 rows;
#   streaming     pyiceberg, the streaming shape: one closed hour of many one-file appends,
#                 each its own fast-append commit (one manifest each).
TENANT=acme
DATASET=prod
SIGNAL=traces
SEED=42
END_TIME=2024-03-05T14:20:00Z
if [[ $QUICK -eq 1 ]]; then
    HOURS=2 ROWS_PER_FILE=2000 SMALL_FILES=10 INGEST_HOURS=6 STREAM_APPENDS=60 PLAN_RUNS=3
else
    HOURS=4 ROWS_PER_FILE=5000 SMALL_FILES=40 INGEST_HOURS=48 STREAM_APPENDS=300 PLAN_RUNS=5
fi
# name:how loaded:hours:files (or appends) per hour:rows per file (or append)
WORKLOADS=(
    "small:loadgen:$HOURS:$SMALL_FILES:$ROWS_PER_FILE"
    "large:loadgen:$HOURS:$((SMALL_FILES * 4)):$ROWS_PER_FILE"
    "ingestion:loadgen:$INGEST_HOURS:20:1000"
    "streaming:streaming:1:$STREAM_APPENDS:1000"
)

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
VENV_DIR="${SIGNALDB_TEST_VENV:-$ROOT/.venv-test}"
RESULTS="$TARGET_DIR/bench/compaction-run"
OUT_JSON="$TARGET_DIR/bench/compaction.json"

log "cargo build --release --bins -p signal-producer -p compactor -p compaction-bench"
cargo build --release --bins -p signal-producer -p compactor -p compaction-bench

bench_venv "$VENV_DIR"

bench_workdir bench-compaction

# Every contender starts from a copy of the same pristine state, restored at the same absolute
# path: Iceberg metadata holds absolute file locations. Ours runs twice: with one group at a
# time (like the single-threaded arrow-rs baseline) and with the default max_concurrent_jobs.
STATE="$WORK/state"
CONF_1JOB="$WORK/signaldb-1job.toml"
CONF_DEFAULT="$WORK/signaldb.toml"
write_config "$CONF_1JOB" "$STATE" "max_concurrent_jobs = 1"
write_config "$CONF_DEFAULT" "$STATE"
PY_CATALOG=(--uri "sqlite:///$STATE/catalog.db" --warehouse "file://$STATE/warehouse"
            --table "$TENANT.$DATASET.$SIGNAL")

rm -rf "$RESULTS"
mkdir -p "$RESULTS"
"$VENV_PYTHON" - "$RESULTS/meta.json" "$QUICK" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import datetime, json, os, platform, sys
path, quick, rev = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
json.dump({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "quick": quick, "git_rev": rev, "cpus": os.cpu_count(),
           "load_average_at_start": os.getloadavg(), "machine": platform.machine(),
           "kernel": platform.release()}, open(path, "w"), indent=2)
PY

order=0
for spec in "${WORKLOADS[@]}"; do
    IFS=: read -r name how hours files rows_per_file <<<"$spec"
    order=$((order + 1))
    [[ -n "$ONLY" && ",$ONLY," != *",$name,"* ]] && continue
    dir="$RESULTS/$name"
    pristine="$WORK/pristine" fresh=""
    mkdir -p "$dir"
    rm -rf "$STATE" "$pristine" "$WORK/fresh"
    mkdir -p "$STATE"
    if [[ $how == loadgen ]]; then
        log "$name: loadgen $hours hours x $files files x $rows_per_file rows of $TENANT.$DATASET.$SIGNAL"
        rows="$(load_loadgen "$dir" "$order" "$hours" "$files" "$rows_per_file")"
    else
        fresh="$WORK/fresh"
        log "$name: $files pyiceberg appends x $rows_per_file rows into one hour of $TENANT.$DATASET.$SIGNAL"
        rows="$(load_streaming "$dir" "$order" "$files" "$rows_per_file" "$fresh")"
    fi
    log "$name: $rows rows in $(du -sh "$STATE/warehouse" | cut -f1)"
    mv "$STATE" "$pristine"
    run_contenders "$dir" "$rows" "$pristine" "$fresh"
    rm -rf "$pristine" "$fresh"
done

"$BIN/compaction-bench" report --results "$RESULTS" --out "$OUT_JSON"
