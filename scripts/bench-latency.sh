#!/usr/bin/env bash
# The latency benchmark: a `compactor compact` pass on the S3 server (moto) behind a loopback
# proxy that adds D ms to every request (scripts/latency_proxy.py), D = 0, 5, 20 and 50, on the
# ingestion shape (many closed hours of 20 small files) and the small shape (a few hours of 40
# larger files). Every run starts from the same uncompacted table (restored server-side);
# medians of REPEAT runs. Prints each shape's time per D as a ratio of its time at D = 0, the
# object-store requests of the pass, the peak RSS, and PASS/MISS for issue 28's targets.
# See docs/benchmarks.md.
#
#   scripts/bench-latency.sh                   # 48 h x 20 x 1,000 rows and 4 h x 40 x 5,000
#   scripts/bench-latency.sh --quick           # 8 h x 20 x 1,000 and 2 h x 20 x 2,000, 1 run
#   scripts/bench-latency.sh --baseline=REV    # also the compactor built from git revision REV
#                                              # (its peak RSS is the RSS target's reference)
#   scripts/bench-latency.sh --delays=0,20     # only these delays (0 is always included)
#   scripts/bench-latency.sh --only=small      # only this shape (ingestion or small)
#   scripts/bench-latency.sh --keep            # keep the temporary directory
#
# Writes target/bench/latency.json; the raw runs are in target/bench/latency-run/. Exits non-zero
# when a pass fails or does not compact; a missed target is reported as MISS, not as a failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
# shellcheck source=scripts/lib/bench_common.sh
source scripts/lib/bench_common.sh
log() { printf '[bench] %s\n' "$*" >&2; }

QUICK=0
KEEP=0
BASELINE=""
DELAYS="0,5,20,50"
ONLY=""
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        --baseline=*) BASELINE="${arg#--baseline=}" ;;
        --delays=*) DELAYS="0,${arg#--delays=}" ;;
        --only=*) ONLY="${arg#--only=}" ;;
        -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (try --help)" ;;
    esac
done
IFS=, read -r -a DELAY_LIST <<<"$(tr ',' '\n' <<<"$DELAYS" | sort -nu | paste -sd,)"

TENANT=acme DATASET=prod SIGNAL=traces SEED=42 END_TIME=2024-03-05T14:20:00Z
BUCKET=bench-latency
# name:hours:files per hour:rows per file
if [[ $QUICK -eq 1 ]]; then
    REPEAT=1
    SHAPES=("ingestion:8:20:1000" "small:2:20:2000")
else
    REPEAT=3
    SHAPES=("ingestion:48:20:1000" "small:4:40:5000")
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
VENV_DIR="${SIGNALDB_TEST_VENV:-$ROOT/.venv-test}"
RESULTS="$TARGET_DIR/bench/latency-run"
OUT_JSON="$TARGET_DIR/bench/latency.json"

log "cargo build --release --bins -p signal-producer -p compactor -p compaction-bench"
cargo build --release --bins -p signal-producer -p compactor -p compaction-bench

# The baseline compactor, built from REV in a worktree of its own (kept between runs).
BUILDS=("ours:$BIN/compactor")
if [[ -n "$BASELINE" ]]; then
    rev="$(git rev-parse --short "$BASELINE^{commit}")" || die "--baseline=$BASELINE is not a revision"
    tree="$TARGET_DIR/bench/baseline-$rev"
    if [[ ! -d "$tree" ]]; then
        git worktree add --detach "$tree" "$rev" >&2
    fi
    log "building the baseline compactor of $rev in $tree"
    (cd "$tree" && CARGO_TARGET_DIR="$TARGET_DIR/bench/baseline-target" \
        cargo build --release --bin compactor) >&2
    BUILDS+=("baseline:$TARGET_DIR/bench/baseline-target/release/compactor")
fi

bench_venv "$VENV_DIR"
bench_workdir bench-latency
PROXY_PID=""
stop_services() {
    [[ -n "$PROXY_PID" ]] && kill "$PROXY_PID" 2>/dev/null || true
    [[ -n "${MOTO_PID:-}" ]] && kill "$MOTO_PID" 2>/dev/null || true
    bench_cleanup
}
trap stop_services EXIT
start_moto "$VENV_DIR" "$WORK/moto.log" "$BUCKET"
MOTO_PORT="${MOTO_ENDPOINT##*:}"

# write_config FILE ROOT ENDPOINT PREFIX: the table's catalog under ROOT, its warehouse at
# s3://BUCKET/PREFIX/wh through ENDPOINT; one output file per hour partition.
write_config() {
    cat > "$1" <<EOF
[compactor]
metrics_port = 0
target_file_size_bytes = 4294967296
small_file_threshold_bytes = 1073741824
min_input_files = 2
quiet_period_secs = 3600

[storage]
dsn = "s3://$BUCKET/$4/wh"

[storage.s3]
endpoint = "$3"
region = "us-east-1"
access_key_id = "testing"
secret_access_key = "testing"
allow_http = true

[schema]
catalog_uri = "sqlite://$2/catalog.db"
catalog_name = "signaldb"
EOF
}

# start_proxy DELAY_MS: a latency proxy in front of moto; sets PROXY_PID and PROXY_ENDPOINT.
start_proxy() {
    local port_file="$WORK/proxy.port"
    rm -f "$port_file"
    "$VENV_PYTHON" scripts/latency_proxy.py --upstream "127.0.0.1:$MOTO_PORT" \
        --delay-ms "$1" --port-file "$port_file" 2>"$WORK/proxy-$1.log" &
    PROXY_PID=$!
    for _ in $(seq 100); do [[ -s "$port_file" ]] && break; sleep 0.1; done
    [[ -s "$port_file" ]] || die "the latency proxy did not start (log: $WORK/proxy-$1.log)"
    PROXY_ENDPOINT="http://127.0.0.1:$(cat "$port_file")"
}

stop_proxy() {
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=""
}

rm -rf "$RESULTS"
mkdir -p "$RESULTS"
for shape_spec in "${SHAPES[@]}"; do
    IFS=: read -r shape hours files rows <<<"$shape_spec"
    [[ -z "$ONLY" || "$ONLY" == "$shape" ]] || continue
    root="$WORK/$shape"
    mkdir -p "$root"
    write_config "$root/direct.toml" "$root" "$MOTO_ENDPOINT" "$shape"
    log "$shape: loading $hours h x $files files x $rows rows into s3://$BUCKET/$shape/wh"
    "$BIN/signaldb-loadgen" --config "$root/direct.toml" --tenants "$TENANT" \
        --datasets "$DATASET" --signals "$SIGNAL" --hours "$hours" --files-per-hour "$files" \
        --rows-per-file "$rows" --seed "$SEED" --end-time "$END_TIME" --json \
        >"$RESULTS/$shape-loadgen.json" 2>"$RESULTS/$shape-loadgen.log" \
        || die "loadgen failed (log: $RESULTS/$shape-loadgen.log)"
    keep_args=(--endpoint "$MOTO_ENDPOINT" --bucket "$BUCKET" --prefix "$shape"
        --catalog "$root/catalog.db")
    "$VENV_PYTHON" scripts/bench_latency.py keep "${keep_args[@]}" >/dev/null
    for delay in "${DELAY_LIST[@]}"; do
        start_proxy "$delay"
        write_config "$root/proxied.toml" "$root" "$PROXY_ENDPOINT" "$shape"
        for build in "${BUILDS[@]}"; do
            label="${build%%:*}" compactor="${build#*:}"
            mkdir -p "$RESULTS/$label"
            for run in $(seq "$REPEAT"); do
                "$VENV_PYTHON" scripts/bench_latency.py restore "${keep_args[@]}" >/dev/null
                name="$shape-d$delay-r$run"
                if ! "$BIN/compaction-bench" measure --out "$RESULTS/$label/$name.measure.json" \
                    --stdout "$RESULTS/$label/$name.out.json" -- \
                    "$compactor" --config "$root/proxied.toml" compact --json \
                    2>"$RESULTS/$label/$name.log"; then
                    tail -n 30 "$RESULTS/$label/$name.log" >&2
                    die "$label failed on $shape at $delay ms (log: $RESULTS/$label/$name.log)"
                fi
                "$VENV_PYTHON" - "$RESULTS/$label/$name.out.json" "$hours" <<'PY' \
                    || die "$label did not compact $shape at $delay ms: see $RESULTS/$label/$name.out.json"
import json, sys
doc, hours = json.load(open(sys.argv[1])), int(sys.argv[2])
assert doc["failures"] == 0, f"{doc['failures']} failures"
groups = sum(((t.get("details") or {}).get("execution") or {}).get("groups_committed", 0)
             for r in doc["reports"] for t in r.get("tables", []))
assert groups == hours, f"{groups} groups committed, {hours} hours to compact"
PY
                secs="$("$VENV_PYTHON" -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["wall_secs"])' "$RESULTS/$label/$name.measure.json")"
                log "$label $shape at $delay ms, run $run: $secs s"
            done
        done
        stop_proxy
    done
done

"$VENV_PYTHON" scripts/bench_latency.py summary --results "$RESULTS" --out "$OUT_JSON"
log "wrote $OUT_JSON"
