# shellcheck shell=bash
# Helpers for scripts/bench-compaction.sh: loading the workloads and running the contenders.
# Sourced, not run. They use the script's variables: BIN (release binaries), VENV_PYTHON, WORK
# (the temporary directory), STATE (the catalog and warehouse every step works on), CONF_1JOB
# and CONF_DEFAULT (compactor configurations on STATE), PY_CATALOG (pyiceberg's arguments for
# STATE's table), TENANT, DATASET, SIGNAL, SEED, END_TIME and PLAN_RUNS.

# write_config FILE ROOT [EXTRA_LINE]: a configuration on the catalog and warehouse under ROOT
# with the benchmark's compaction settings; EXTRA_LINE goes into [compactor].
write_config() {
    local file="$1" root="$2" extra="${3:-}"
    cat > "$file" <<EOF
[compactor]
metrics_port = 0
# One output file per hour partition: the target is far above a partition's size.
target_file_size_bytes = 4294967296
small_file_threshold_bytes = 1073741824
min_input_files = 2
quiet_period_secs = 3600
$extra

[storage]
dsn = "file://$root/warehouse"

[schema]
catalog_uri = "sqlite://$root/catalog.db"
catalog_name = "signaldb"
EOF
}

# restore DIR: makes STATE a copy of DIR, at STATE's absolute path (Iceberg metadata holds
# absolute file locations).
restore() {
    rm -rf "$STATE"
    cp -a "$1" "$STATE"
}

# measure NAME DIR [REPEAT] -- COMMAND...: runs COMMAND (REPEAT times, default once) under
# compaction-bench measure; its stdout goes to DIR/NAME.out.json, its stderr to DIR/NAME.log.
measure() {
    local name="$1" dir="$2" repeat=1
    shift 2
    if [[ "$1" != "--" ]]; then repeat="$1"; shift; fi
    shift
    if ! "$BIN/compaction-bench" measure --repeat "$repeat" --out "$dir/$name.measure.json" \
        --stdout "$dir/$name.out.json" -- "$@" 2>"$dir/$name.log"; then
        tail -n 30 "$dir/$name.log" >&2
        die "$name failed on this workload (log: $dir/$name.log)"
    fi
}

# time_plan NAME DIR: PLAN_RUNS runs of `compactor plan --json` on STATE (it changes nothing).
time_plan() {
    measure "$1" "$2" "$PLAN_RUNS" -- "$BIN/compactor" --config "$CONF_DEFAULT" plan --json
}

# verify_table NAME DIR ROWS [MAX_FILES_PER_HOUR]: counts the table's rows with pyiceberg and
# records its metadata (snapshots, manifests) in DIR/NAME.verify.json.
verify_table() {
    local name="$1" dir="$2" rows="$3" extra=()
    [[ $# -ge 4 ]] && extra=(--max-files-per-hour "$4")
    "$VENV_PYTHON" scripts/bench_pyiceberg_compact.py verify "${PY_CATALOG[@]}" \
        --expect-rows "$rows" "${extra[@]}" >"$dir/$name.verify.json" \
        || die "$name changed the table's rows: see $dir/$name.verify.json"
}

# table_stats FILE: the metadata of STATE's table (snapshots, manifests, manifests per hour).
table_stats() {
    "$VENV_PYTHON" scripts/bench_pyiceberg_compact.py stats "${PY_CATALOG[@]}" >"$1" \
        || die "could not read the table's metadata (see $1)"
}

# loadgen CONFIG DIR LOG_NAME HOURS FILES_PER_HOUR ROWS_PER_FILE [LOADGEN_ARG...]: the load
# generator on CONFIG's catalog and warehouse (further arguments passed on, e.g. --layout
# signaldb), its JSON summary in DIR/LOG_NAME.json.
loadgen() {
    local conf="$1" dir="$2" name="$3" hours="$4" files="$5" rows="$6"
    "$BIN/signaldb-loadgen" --config "$conf" --tenants "$TENANT" --datasets "$DATASET" \
        --signals "$SIGNAL" --hours "$hours" --files-per-hour "$files" \
        --rows-per-file "$rows" --seed "$SEED" --end-time "$END_TIME" --json "${@:7}" \
        >"$dir/$name.json" 2>"$dir/$name.log" || die "loadgen failed (log: $dir/$name.log)"
}

# write_workload DIR BASE_JSON KEY=VALUE...: DIR/workload.json is BASE_JSON with the given
# keys set (integers where they parse); prints its total_rows.
write_workload() {
    "$VENV_PYTHON" - "$@" <<'PY'
import json, sys
d, base, *pairs = sys.argv[1:]
w = json.load(open(base))
for pair in pairs:
    key, value = pair.split("=", 1)
    w[key] = int(value) if value.isdigit() else value
json.dump(w, open(f"{d}/workload.json", "w"), indent=2)
print(w["total_rows"])
PY
}

# load_loadgen DIR ORDER HOURS FILES_PER_HOUR ROWS_PER_FILE: writes the workload into an
# empty STATE with the load generator (one fast append per hour); prints its rows.
load_loadgen() {
    local dir="$1" order="$2" hours="$3" files="$4" rows="$5"
    loadgen "$CONF_DEFAULT" "$dir" loadgen "$hours" "$files" "$rows"
    write_workload "$dir" "$dir/loadgen.json" loaded_by=loadgen order="$order" \
        hours="$hours" files_per_hour="$files" rows_per_file="$rows"
}

# load_streaming DIR ORDER APPENDS ROWS_PER_APPEND FRESH: the loadgen writes APPENDS files of
# ROWS_PER_APPEND rows of one hour into a source catalog of its own; STATE's table, created
# empty by the loadgen, gets those rows in APPENDS pyiceberg appends. FRESH becomes the same
# rows loaded in one append (at STATE's path, then moved). Prints the rows.
load_streaming() {
    local dir="$1" order="$2" appends="$3" rows="$4" fresh="$5"
    local src="$WORK/stream-source"
    rm -rf "$src"
    mkdir -p "$src"
    write_config "$src/signaldb.toml" "$src"
    loadgen "$src/signaldb.toml" "$dir" loadgen-source 1 "$appends" "$rows"
    local stream=(scripts/bench_streaming_load.py
        --source-uri "sqlite:///$src/catalog.db" --source-warehouse "file://$src/warehouse"
        "${PY_CATALOG[@]}")
    loadgen "$CONF_DEFAULT" "$dir" loadgen-fresh 0 1 1
    "$VENV_PYTHON" "${stream[@]}" --appends 1 >"$dir/load-fresh.json" 2>"$dir/load-fresh.log" \
        || die "the one-commit load failed (log: $dir/load-fresh.log)"
    mv "$STATE" "$fresh"
    mkdir -p "$STATE"
    loadgen "$CONF_DEFAULT" "$dir" loadgen-empty 0 1 1
    "$VENV_PYTHON" "${stream[@]}" --appends "$appends" >"$dir/load.json" 2>"$dir/load.log" \
        || die "the streaming load failed (log: $dir/load.log)"
    rm -rf "$src"
    "$VENV_PYTHON" - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
source, load = json.load(open(f"{d}/loadgen-source.json")), json.load(open(f"{d}/load.json"))
json.dump({"total_rows": load["rows"], "total_files": load["files"],
           "total_snapshots": load["snapshots"], "checksum": source["checksum"],
           "append_seconds": load["seconds"]}, open(f"{d}/load-summary.json", "w"), indent=2)
PY
    write_workload "$dir" "$dir/load-summary.json" loaded_by="pyiceberg appends" \
        order="$order" hours=1 files_per_hour="$appends" rows_per_file="$rows"
}

# run_contenders DIR ROWS PRISTINE [FRESH]: every contender on a copy of PRISTINE, each
# followed by its checks; `compactor plan` timed before and after ours with the default
# settings, and on FRESH when given.
run_contenders() {
    local dir="$1" rows="$2" pristine="$3" fresh="${4:-}" name
    name="$(basename "$dir")"

    restore "$pristine"
    table_stats "$dir/before.stats.json"
    log "$name: compactor plan x $PLAN_RUNS as loaded"
    time_plan plan-before "$dir"

    log "$name: arrow-baseline"
    measure arrow-baseline "$dir" -- "$BIN/compaction-bench" arrow-baseline \
        --warehouse "$STATE/warehouse" --out-dir "$WORK/arrow-out" --expect-rows "$rows"
    rm -rf "$WORK/arrow-out"

    local variant conf
    for variant in 1job default; do
        restore "$pristine"
        conf="$CONF_DEFAULT"
        [[ $variant == 1job ]] && conf="$CONF_1JOB"
        log "$name: ours-$variant (compactor compact)"
        measure "ours-$variant" "$dir" -- "$BIN/compactor" --config "$conf" compact --json
        if grep -q 'not executed\|nothing was executed' "$dir/ours-$variant.out.json"; then
            die "compactor compact did not execute the plan: see $dir/ours-$variant.out.json"
        fi
        verify_table "ours-$variant" "$dir" "$rows" 1
    done
    log "$name: compactor plan x $PLAN_RUNS after ours-default"
    time_plan plan-after "$dir"

    restore "$pristine"
    log "$name: pyiceberg overwrite per partition"
    measure pyiceberg "$dir" -- "$VENV_PYTHON" scripts/bench_pyiceberg_compact.py compact \
        "${PY_CATALOG[@]}" --expect-rows "$rows"
    verify_table pyiceberg "$dir" "$rows"

    if [[ -n "$fresh" ]]; then
        restore "$fresh"
        table_stats "$dir/fresh.stats.json"
        log "$name: compactor plan x $PLAN_RUNS on the same rows loaded in one commit"
        time_plan plan-fresh "$dir"
    fi
}
