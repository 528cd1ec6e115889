#!/usr/bin/env bash
# Row-group copy vs decode/encode (issue 15): a second-tier merge of one hour of 16 large files
# into one file, by copying their row groups and by rewriting them, on identical copies of the
# same loaded state, in one run. See docs/benchmarks.md.
#
#   scripts/bench-copy.sh            # about 3 minutes on 2 cores once built
#   scripts/bench-copy.sh --keep     # keep the temporary directory and print where it is
#   REPEAT=1 scripts/bench-copy.sh   # one compaction per contender, for trying
#
# The table: signaldb-loadgen, 1 closed hour x 16 files x 200,000 rows of acme.prod.traces
# (each file one ZSTD row group of about 7.4 MiB), SQLite catalog and local warehouse under
# $TMPDIR; the default 128 MiB target and 96 MiB small-file threshold, so the 16 files are one
# group of one output file. `copy_min_row_group_bytes` = 4 MiB so every input row group is
# copied; sorting is off for both contenders (the inputs record no sort order, so a sorted
# table would sort rather than copy). Contenders: `copy` (the default) and `rewrite`
# (SIGNALDB_COMPACTOR_OUTPUT_COPY_ROW_GROUPS=false). Each runs REPEAT times on a fresh copy,
# alternating which goes first; the median wall time is used. Every result is read back with
# pyiceberg (content digest over the sorted rows) and DuckDB (rows read). Prints the table,
# the ratio and a PASS/MISS line, and writes target/bench/copy/summary.json.
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
        -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (try --help)" ;;
    esac
done

TENANT=acme DATASET=prod SIGNAL=traces SEED=42 END_TIME=2024-03-05T14:20:00Z
FILES=16 ROWS_PER_FILE=200000
REPEAT="${REPEAT:-3}"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
VENV_DIR="${SIGNALDB_TEST_VENV:-$ROOT/.venv-test}"
RESULTS="$TARGET_DIR/bench/copy"

log "cargo build --release --bins -p signal-producer -p compactor -p compaction-bench"
cargo build --release --bins -p signal-producer -p compactor -p compaction-bench

bench_venv "$VENV_DIR"

bench_workdir bench-copy

STATE="$WORK/state"
PRISTINE="$WORK/pristine"
CONF="$WORK/signaldb.toml"
cat > "$CONF" <<EOF
[compactor]
metrics_port = 0

[compactor.sort]
enabled = false

[compactor.output]
copy_min_row_group_bytes = 4194304

[storage]
dsn = "file://$STATE/warehouse"

[schema]
catalog_uri = "sqlite://$STATE/catalog.db"
catalog_name = "signaldb"
EOF

rm -rf "$RESULTS"
mkdir -p "$RESULTS" "$STATE"
log "loadgen 1 hour x $FILES files x $ROWS_PER_FILE rows of $TENANT.$DATASET.$SIGNAL"
"$BIN/signaldb-loadgen" --config "$CONF" --tenants "$TENANT" --datasets "$DATASET" \
    --signals "$SIGNAL" --hours 1 --files-per-hour "$FILES" --rows-per-file "$ROWS_PER_FILE" \
    --seed "$SEED" --end-time "$END_TIME" --json >"$RESULTS/loadgen.json" \
    2>"$RESULTS/loadgen.log" || die "loadgen failed (log: $RESULTS/loadgen.log)"
log "$(du -sh "$STATE/warehouse" | cut -f1) written"
mv "$STATE" "$PRISTINE"

restore() {
    rm -rf "$STATE"
    cp -a "$PRISTINE" "$STATE"
}

# read_back NAME: pyiceberg's digest and DuckDB's row count of STATE's table as it is now.
read_back() {
    "$VENV_PYTHON" scripts/pyiceberg_read.py --uri "sqlite:///$STATE/catalog.db" \
        --warehouse "file://$STATE/warehouse" --table "$TENANT.$DATASET.$SIGNAL" \
        >"$RESULTS/$1.pyiceberg.json" 2>"$RESULTS/$1.pyiceberg.log" \
        || die "pyiceberg could not read $1 (log: $RESULTS/$1.pyiceberg.log)"
    local location
    location="$("$VENV_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["tables"][sys.argv[2]]["metadata_location"])' \
        "$RESULTS/$1.pyiceberg.json" "$TENANT.$DATASET.$SIGNAL")"
    "$VENV_PYTHON" tests-integration/src/duckdb_read.py --scan "$location" \
        >"$RESULTS/$1.duckdb.json" 2>"$RESULTS/$1.duckdb.log" \
        || die "DuckDB could not read $1 (log: $RESULTS/$1.duckdb.log)"
}

# compact CONTENDER RUN: `compactor compact --json` on STATE under compaction-bench measure.
compact() {
    local contender="$1" run="$2" copy=true name="$1-$2"
    [[ $contender == rewrite ]] && copy=false
    log "$name: compactor compact (SIGNALDB_COMPACTOR_OUTPUT_COPY_ROW_GROUPS=$copy)"
    if ! "$BIN/compaction-bench" measure --out "$RESULTS/$name.measure.json" \
        --stdout "$RESULTS/$name.out.json" -- env SIGNALDB_COMPACTOR_OUTPUT_COPY_ROW_GROUPS="$copy" \
        "$BIN/compactor" --config "$CONF" compact --json 2>"$RESULTS/$name.log"; then
        tail -n 30 "$RESULTS/$name.log" >&2
        die "$name failed (log: $RESULTS/$name.log)"
    fi
}

restore
read_back before
for run in $(seq 1 "$REPEAT"); do
    order=(copy rewrite)
    if (( run % 2 == 0 )); then order=(rewrite copy); fi
    for contender in "${order[@]}"; do
        restore
        compact "$contender" "$run"
        if [[ $run -eq 1 ]]; then read_back "$contender"; fi
    done
done
rm -rf "$STATE"

"$VENV_PYTHON" - "$RESULTS" "$REPEAT" "$TENANT.$DATASET.$SIGNAL" <<'PY'
import json, statistics, sys
root, repeat, table = sys.argv[1], int(sys.argv[2]), sys.argv[3]
load = lambda name: json.load(open(f"{root}/{name}"))
before = load("before.pyiceberg.json")["tables"][table]
rows, failures = {}, []
for contender, method in (("copy", "copy"), ("rewrite", "rewrite")):
    runs = [load(f"{contender}-{r}.measure.json") for r in range(1, repeat + 1)]
    out = load(f"{contender}-1.out.json")
    t = [t for r in out["reports"] for t in r["tables"]][0]["details"]
    groups = t["execution"]["groups"]
    methods = sorted({g["method"] for g in groups})
    if methods != [method]:
        failures.append(f"{contender}: groups written by {methods}, not {method}")
    after = load(f"{contender}.pyiceberg.json")["tables"][table]
    duck = load(f"{contender}.duckdb.json")["scans"][0]
    same = after["rows_sha256"] == before["rows_sha256"]
    if not same or duck["total_rows"] != before["total_rows"]:
        failures.append(f"{contender}: rows differ from the loaded table's")
    duck_read = sum(duck["rows_per_hour"].values())
    rows[contender] = dict(
        seconds=statistics.median(m["wall_secs"] for m in runs),
        all_seconds=[m["wall_secs"] for m in runs],
        rss_mib=max(m["peak_rss_bytes"] for m in runs) / 2**20,
        files=f'{t["execution"]["files_removed"]} -> {t["execution"]["files_added"]}',
        mib_in=t["execution"]["bytes_rewritten"] / 2**20,
        mib_out=t["execution"]["bytes_written"] / 2**20,
        digest_equal=same, duckdb_rows_read=duck_read, method=methods)
print(f'{"contender":<10}{"files":>10}{"MiB in":>9}{"MiB out":>9}{"median s":>10}{"peak RSS MiB":>14}{"digest":>8}{"DuckDB rows":>13}')
for name, r in rows.items():
    print(f'{name:<10}{r["files"]:>10}{r["mib_in"]:>9.1f}{r["mib_out"]:>9.1f}{r["seconds"]:>10.2f}'
          f'{r["rss_mib"]:>14.1f}{"same" if r["digest_equal"] else "DIFF":>8}{r["duckdb_rows_read"]:>13}')
speedup = rows["rewrite"]["seconds"] / rows["copy"]["seconds"]
print(f'rewrite / copy wall time: {speedup:.2f}x (medians of {repeat})')
print(f'{"PASS" if speedup >= 5 else "MISS"} copy at least 5x faster than decode/encode')
json.dump(dict(rows=rows, speedup=speedup, failures=failures), open(f"{root}/summary.json", "w"), indent=2)
if failures:
    sys.exit("; ".join(failures))
PY
