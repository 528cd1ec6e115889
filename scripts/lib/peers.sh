# shellcheck shell=bash
# What scripts/bench-peers.sh and scripts/bench-storage.sh share: the libraries they use, where
# they build and write, loading one workload the way both load it, and running one contender on
# a copy of it. Sourced from the repository's root, not run. The functions use the script's
# variables: ROOT, TABLE, TENANT, DATASET, SIGNAL, SEED, END_TIME, BEFORE_BIN (another
# `compactor`, for the before-* contenders), SPARK_PYTHON and SPARK_JARS (Spark's venv and
# jars), SORT_COLUMNS, and those peers_paths and peers_workdir set.

# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
# shellcheck source=scripts/lib/bench_common.sh
source scripts/lib/bench_common.sh
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
log() { printf '[bench] %s\n' "$*" >&2; }

# peers_args OPTION ARG...: the command line both scripts take: --quick (sets QUICK=1), --keep
# (KEEP=1, read by bench_cleanup), --only=NAME,... (ONLY), -h/--help (prints the script's
# header comment and exits) and the script's own --OPTION=VALUE (OPTION_VALUE).
# shellcheck disable=SC2034  # the variables are read by the scripts and by bench_cleanup
peers_args() {
    local option="$1" arg
    shift
    QUICK=0 ONLY="" KEEP=0 OPTION_VALUE=""
    for arg in "$@"; do
        case "$arg" in
            --quick) QUICK=1 ;;
            --keep) KEEP=1 ;;
            --only=*) ONLY="${arg#--only=}" ;;
            "--$option="*) OPTION_VALUE="${arg#--"$option"=}" ;;
            -h|--help) awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0"
                       exit 0 ;;
            *) die "unknown argument $arg (try --help)" ;;
        esac
    done
}

# peers_paths NAME: sets TARGET_DIR (CARGO_TARGET_DIR or ROOT/target), BIN (its release
# binaries), VENV_DIR (the test venv), PEERS_VENV (the peers' venvs), RESULTS
# (TARGET_DIR/bench/NAME-run) and OUT_JSON (TARGET_DIR/bench/NAME.json), then builds BIN.
# shellcheck disable=SC2034  # the variables are read by the scripts
peers_paths() {
    TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    BIN="$TARGET_DIR/release"
    VENV_DIR="${SIGNALDB_TEST_VENV:-$ROOT/.venv-test}"
    PEERS_VENV="$ROOT/.venv-bench-peers"
    RESULTS="$TARGET_DIR/bench/$1-run"
    OUT_JSON="$TARGET_DIR/bench/$1.json"
    log "cargo build --release --bins -p signal-producer -p compactor"
    cargo build --release --bins -p signal-producer -p compactor
}

# peers_workdir NAME: WORK (bench_workdir bench-NAME), STATE, PRISTINE and CONF (a write_config
# configuration on STATE) in it, CATALOG (bench_peers.py's arguments for STATE's table), and
# RESULTS emptied. BIN becomes WORK/bin, a copy of the release binaries the run uses: a build
# into the same target directory during the run (another worktree's) changes nothing.
peers_workdir() {
    bench_workdir "bench-$1"
    mkdir -p "$WORK/bin"
    cp "$BIN/compactor" "$BIN/signaldb-loadgen" "$WORK/bin/"
    BIN="$WORK/bin"
    STATE="$WORK/state"
    PRISTINE="$WORK/pristine"
    CONF="$WORK/signaldb.toml"
    write_config "$CONF" "$STATE"
    CATALOG=(--uri "sqlite:///$STATE/catalog.db" --warehouse "file://$STATE/warehouse"
             --table "$TABLE")
    rm -rf "$RESULTS"
    mkdir -p "$RESULTS"
}

# load_peer_workload DIR LAYOUT HOURS FILES_PER_HOUR ROWS_PER_FILE: loadgen writes the workload
# into an empty STATE (DIR/loadgen.json, DIR/workload.json, DIR/before.inspect.json), which is
# then moved to PRISTINE. Sets ROWS (the loaded rows) and SORT_COLUMNS (also in
# DIR/sort-columns): the table's default sort order when it has one (SignalDB's layout), else
# the compactor's default for traces; the peers sort by the order ours does.
load_peer_workload() {
    local dir="$1" layout="$2" hours="$3" files="$4" rows_per_file="$5" name
    name="$(basename "$dir")"
    mkdir -p "$dir"
    rm -rf "$STATE" "$PRISTINE"
    mkdir -p "$STATE"
    log "$name: loadgen --layout $layout, $hours hours x $files files x $rows_per_file rows of $TABLE"
    loadgen "$CONF" "$dir" loadgen "$hours" "$files" "$rows_per_file" --layout "$layout"
    ROWS="$(write_workload "$dir" "$dir/loadgen.json" layout="$layout" hours="$hours" \
        files_per_hour="$files" rows_per_file="$rows_per_file")"
    "$VENV_PYTHON" scripts/bench_peers.py inspect "${CATALOG[@]}" --expect-rows "$ROWS" \
        >"$dir/before.inspect.json" || die "the loaded table does not hold $ROWS rows"
    SORT_COLUMNS="$("$VENV_PYTHON" -c 'import json, sys
order = json.load(open(sys.argv[1]))["sort_order_columns"]
print(",".join(order) if order else "trace_id,timestamp")' "$dir/before.inspect.json")"
    echo "$SORT_COLUMNS" >"$dir/sort-columns"
    log "$name: $ROWS rows in $(du -sh "$STATE/warehouse" | cut -f1); peers sort by $SORT_COLUMNS"
    mv "$STATE" "$PRISTINE"
}

REST_PID=""

# start_rest DIR: the loopback REST catalog on STATE's catalog (for nimtable); sets REST_PID
# and REST_URI.
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

stop_rest() {
    if [[ -n "$REST_PID" ]]; then
        kill "$REST_PID" 2>/dev/null || true
        wait "$REST_PID" 2>/dev/null || true
        REST_PID=""
    fi
}

# is_ours NAME: NAME is a build of our compactor (this tree's ours-*, or --before's before-*).
is_ours() { [[ $1 == ours-* || $1 == before-* ]]; }

# contender_command NAME: sets CMD to the command line of contender NAME on STATE.
contender_command() {
    local sort=true
    [[ $1 == *-unsorted ]] && sort=false
    case "$1" in
        ours-unsorted|ours-sorted) CMD=(env SIGNALDB_COMPACTOR_SORT_ENABLED="$sort"
                                        "$BIN/compactor" --config "$CONF" compact --json) ;;
        before-unsorted|before-sorted) CMD=(env SIGNALDB_COMPACTOR_SORT_ENABLED="$sort"
                                            "$BEFORE_BIN" --config "$CONF" compact --json) ;;
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
# process-tree measurement (DIR/CONTENDER-RUN.measure.json, .out.json, .log), then the table it
# left read back (.inspect.json); STATE keeps that table. A failing peer on a TOLERANT workload
# (1) is recorded as N/A (DIR/CONTENDER.na holds why) and returns 1; anywhere else, and for ours
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
    if [[ $ok -eq 1 ]] && is_ours "$name" && grep -q 'not executed\|nothing was executed' "$base.out.json"; then
        ok=0
        echo "compactor compact did not execute the plan" >>"$base.log"
    fi
    if [[ $ok -eq 0 ]]; then
        tail -n 20 "$base.log" >&2
        if [[ $tolerant -eq 1 ]] && ! is_ours "$name"; then
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
