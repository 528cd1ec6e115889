#!/usr/bin/env bash
# The compaction benchmark: our compactor against (a) a bare arrow-rs read-all-then-write-one-file
# of the same input and (b) pyiceberg's per-partition overwrite, on two loadgen workloads whose
# hour partitions differ 4x in size. See docs/benchmarks.md.
#
#   scripts/bench-compaction.sh            # full run (about 5 minutes on 2 cores)
#   scripts/bench-compaction.sh --quick    # smaller workloads (about 1 minute)
#   scripts/bench-compaction.sh --keep     # keep the temporary directory and print where it is
#
# Prints the results table and writes it to target/bench/compaction.json; the raw measurements
# of the run are in target/bench/compaction-run/. Exits non-zero when a contender fails or
# changes the row count; a target that is missed is reported as MISS, not as a failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
log() { printf '[bench] %s\n' "$*" >&2; }

QUICK=0
KEEP=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (try --help)" ;;
    esac
done

# The workload: one table, quiet hours (the end time is long past), fixed seed. The large
# workload has 4x the files per hour of the small one, so its partitions are 4x larger.
TENANT=acme
DATASET=prod
SIGNAL=traces
SEED=42
END_TIME=2024-03-05T14:20:00Z
if [[ $QUICK -eq 1 ]]; then
    HOURS=2 ROWS_PER_FILE=2000 SMALL_FILES=10
else
    HOURS=4 ROWS_PER_FILE=5000 SMALL_FILES=40
fi
WORKLOADS=("small:$SMALL_FILES" "large:$((SMALL_FILES * 4))")
# pyiceberg 0.12 declares pyiceberg-core>=0.10.1,<0.11.0; it is needed to write into hour()
# partitions and is installed here rather than in the test requirements.
PYICEBERG_CORE=pyiceberg-core==0.10.1

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
VENV_DIR="${SIGNALDB_TEST_VENV:-$ROOT/.venv-test}"
RESULTS="$TARGET_DIR/bench/compaction-run"
OUT_JSON="$TARGET_DIR/bench/compaction.json"

log "cargo build --release --bins -p signal-producer -p compactor -p compaction-bench"
cargo build --release --bins -p signal-producer -p compactor -p compaction-bench

ensure_venv "$VENV_DIR" scripts/requirements-test.txt
if ! "$VENV_PYTHON" -c 'import pyiceberg_core' 2>/dev/null \
    || [[ "$("$VENV_PYTHON" -c 'import importlib.metadata as m; print(m.version("pyiceberg-core"))')" \
          != "${PYICEBERG_CORE#*==}" ]]; then
    log "installing $PYICEBERG_CORE into $VENV_DIR"
    "$VENV_PYTHON" -m pip install --quiet --disable-pip-version-check "$PYICEBERG_CORE" \
        || die "pip install $PYICEBERG_CORE failed"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-compaction.XXXXXX")"
cleanup() {
    if [[ $KEEP -eq 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every contender starts from a copy of the same pristine state, restored at the same absolute
# path: Iceberg metadata holds absolute file locations.
STATE="$WORK/state"
CONF="$WORK/signaldb.toml"
cat > "$CONF" <<EOF
[compactor]
metrics_port = 0
# One output file per hour partition: the target is far above a partition's size.
target_file_size_bytes = 4294967296
small_file_threshold_bytes = 1073741824
min_input_files = 2
# One group at a time, like the single-threaded arrow-rs baseline.
max_concurrent_jobs = 1
quiet_period_secs = 3600

[storage]
dsn = "file://$STATE/warehouse"

[schema]
catalog_uri = "sqlite://$STATE/catalog.db"
catalog_name = "signaldb"
EOF
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

restore() {
    rm -rf "$STATE"
    cp -a "$1" "$STATE"
}

# measure NAME DIR -- COMMAND...: runs COMMAND under compaction-bench measure; its stdout goes to
# DIR/NAME.out.json, its stderr to DIR/NAME.log.
measure() {
    local name="$1" dir="$2"
    shift 3
    if ! "$BIN/compaction-bench" measure --out "$dir/$name.measure.json" \
        --stdout "$dir/$name.out.json" -- "$@" 2>"$dir/$name.log"; then
        tail -n 30 "$dir/$name.log" >&2
        die "$name failed on this workload (log: $dir/$name.log)"
    fi
}

# verify_table NAME DIR ROWS [MAX_FILES_PER_HOUR]: counts the table's rows with pyiceberg.
verify_table() {
    local name="$1" dir="$2" rows="$3" extra=()
    [[ $# -ge 4 ]] && extra=(--max-files-per-hour "$4")
    "$VENV_PYTHON" scripts/bench_pyiceberg_compact.py verify "${PY_CATALOG[@]}" \
        --expect-rows "$rows" "${extra[@]}" >"$dir/$name.verify.json" \
        || die "$name changed the table's rows: see $dir/$name.verify.json"
}

for spec in "${WORKLOADS[@]}"; do
    name="${spec%%:*}" files="${spec#*:}"
    dir="$RESULTS/$name"
    mkdir -p "$dir"
    pristine="$WORK/pristine"
    rm -rf "$STATE" "$pristine"
    mkdir -p "$STATE"
    log "$name: loadgen $HOURS hours x $files files x $ROWS_PER_FILE rows of $TENANT.$DATASET.$SIGNAL"
    "$BIN/signaldb-loadgen" --config "$CONF" --tenants "$TENANT" --datasets "$DATASET" \
        --signals "$SIGNAL" --hours "$HOURS" --files-per-hour "$files" \
        --rows-per-file "$ROWS_PER_FILE" --seed "$SEED" --end-time "$END_TIME" --json \
        >"$dir/loadgen.json" 2>"$dir/loadgen.log" || die "loadgen failed (log: $dir/loadgen.log)"
    rows="$("$VENV_PYTHON" - "$dir" "$HOURS" "$files" "$ROWS_PER_FILE" <<'PY'
import json, sys
d, hours, files, rows_per_file = sys.argv[1], *map(int, sys.argv[2:])
w = json.load(open(f"{d}/loadgen.json"))
w.update(hours=hours, files_per_hour=files, rows_per_file=rows_per_file)
json.dump(w, open(f"{d}/workload.json", "w"), indent=2)
print(w["total_rows"])
PY
)"
    log "$name: $rows rows in $(du -sh "$STATE/warehouse" | cut -f1)"
    mv "$STATE" "$pristine"

    restore "$pristine"
    log "$name: arrow-baseline"
    measure arrow-baseline "$dir" -- "$BIN/compaction-bench" arrow-baseline \
        --warehouse "$STATE/warehouse" --out-dir "$WORK/arrow-out" --expect-rows "$rows"
    rm -rf "$WORK/arrow-out"

    restore "$pristine"
    log "$name: ours (compactor compact)"
    measure ours "$dir" -- "$BIN/compactor" --config "$CONF" compact --json
    if grep -q 'not executed\|nothing was executed' "$dir/ours.out.json"; then
        die "compactor compact did not execute the plan: see $dir/ours.out.json"
    fi
    verify_table ours "$dir" "$rows" 1

    restore "$pristine"
    log "$name: pyiceberg overwrite per partition"
    measure pyiceberg "$dir" -- "$VENV_PYTHON" scripts/bench_pyiceberg_compact.py compact \
        "${PY_CATALOG[@]}" --expect-rows "$rows"
    verify_table pyiceberg "$dir" "$rows"
    rm -rf "$pristine"
done

"$BIN/compaction-bench" report --results "$RESULTS" --out "$OUT_JSON"
