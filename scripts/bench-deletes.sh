#!/usr/bin/env bash
# The cost of applying another engine's deletes: the same traces table (loadgen, small files)
# compacted by `compactor compact` as loaded, and after Spark (Iceberg 1.10's Java runtime)
# deleted a tenth of its rows with `write.delete.mode = merge-on-read` (a position delete file
# per data file). Runs alternate between the two copies; prints median time and peak RSS of
# each, their ratio, and PASS/MISS against the target, and checks that Spark reads after
# compaction exactly the rows it read after its DELETE. See docs/benchmarks.md.
#
#   scripts/bench-deletes.sh            # 4 hours x 40 files x 5,000 rows, 3 runs each (a few minutes)
#   scripts/bench-deletes.sh --quick    # 2 hours x 10 files x 2,000 rows, 1 run each
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
# shellcheck source=scripts/lib/bench.sh
source scripts/lib/bench.sh
log() { printf '[bench] %s\n' "$*" >&2; }

HOURS=4 FILES=40 ROWS=5000 RUNS=3
for arg in "$@"; do
    case "$arg" in
        --quick) HOURS=2 FILES=10 ROWS=2000 RUNS=1 ;;
        -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (try --help)" ;;
    esac
done
# Applying deletes may cost at most this much time over the same compaction without them.
TARGET_RATIO=1.5
TENANT=acme DATASET=prod SIGNAL=traces SEED=42 END_TIME=2024-03-05T14:20:00Z
TABLE="$TENANT.$DATASET.$SIGNAL"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
RESULTS="$TARGET_DIR/bench/deletes"
log "cargo build --release --bins -p signal-producer -p compactor -p compaction-bench"
cargo build --release --bins -p signal-producer -p compactor -p compaction-bench
ensure_venv "${SIGNALDB_TEST_VENV:-$ROOT/.venv-test}" scripts/requirements-test.txt
ensure_spark "$VENV_PYTHON" || die "Spark with Iceberg is not available (see scripts/lib/services.sh)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-deletes.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
STATE="$WORK/state"
mkdir -p "$STATE"
CONF="$STATE/signaldb.toml"
write_config "$CONF" "$STATE" "max_concurrent_jobs = 1"

# spark NAME SQL...: Spark runs the statements on STATE's catalog, then reads the table (rows,
# digest) into RESULTS/NAME.json.
spark() {
    local name="$1" sql=()
    shift
    for statement in "$@"; do sql+=(--sql "$statement"); done
    SPARK_LOCAL_IP=127.0.0.1 "$VENV_PYTHON" tests-integration/src/spark_read.py \
        --catalog-name signaldb --uri "sqlite:///$STATE/catalog.db" \
        --warehouse "file://$STATE/warehouse" --jars "$SPARK_JARS" "${sql[@]}" \
        --table "$TABLE" >"$RESULTS/$name.json" 2>"$RESULTS/$name.log" \
        || die "Spark failed (log: $RESULTS/$name.log)"
}

log "loadgen: $HOURS hours x $FILES files x $ROWS rows of $SIGNAL"
loadgen "$CONF" "$RESULTS" loadgen "$HOURS" "$FILES" "$ROWS"
cp -a "$STATE" "$WORK/clean"
log "Spark: DELETE a tenth of the rows (merge-on-read)"
spark deleted \
    "ALTER TABLE signaldb.$TABLE SET TBLPROPERTIES ('write.delete.mode' = 'merge-on-read')" \
    "DELETE FROM signaldb.$TABLE WHERE pmod(hash(trace_id), 10) = 0"
cp -a "$STATE" "$WORK/deleted"

for run in $(seq 1 "$RUNS"); do
    for case in clean deleted; do
        restore "$WORK/$case"
        log "run $run: $case"
        measure "$case-$run" "$RESULTS" -- "$BIN/compactor" --config "$CONF" compact --json
    done
done
log "Spark: read the compacted table"
spark after

"$VENV_PYTHON" - "$RESULTS" "$RUNS" "$TARGET_RATIO" "$TABLE" <<'PY'
import json, statistics, sys
root, runs, target, table = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
res = {}
for case in ("clean", "deleted"):
    secs, rss = [], []
    for run in range(1, runs + 1):
        m = json.load(open(f"{root}/{case}-{run}.measure.json"))
        out = json.load(open(f"{root}/{case}-{run}.out.json"))
        if out["failures"]:
            sys.exit(f"{case} run {run} failed: {root}/{case}-{run}.out.json")
        t = out["reports"][0]["tables"][0]["details"]
        secs.append(m["wall_secs"])
        rss.append(m["peak_rss_bytes"] / 2**20)
    ex = t["execution"]
    res[case] = dict(seconds=statistics.median(secs), rss_mib=statistics.median(rss),
                     rows_in=t["rows_to_rewrite"],
                     files=f'{ex["files_removed"]} -> {ex["files_added"]}',
                     delete_files=t["delete_files"], removed=ex["delete_files_removed"])
deleted, after = json.load(open(f"{root}/deleted.json")), json.load(open(f"{root}/after.json"))
d, a = deleted["tables"][table], after["tables"][table]
if (d["total_rows"], d["rows_sha256"]) != (a["total_rows"], a["rows_sha256"]):
    sys.exit(f"Spark reads other rows after compaction: {d['total_rows']} -> {a['total_rows']}")
print(f'{"case":<9}{"rows in":>10}{"files":>12}{"delete files":>14}{"removed":>9}'
      f'{"seconds":>9}{"peak RSS MiB":>14}')
for case, r in res.items():
    print(f'{case:<9}{r["rows_in"]:>10}{r["files"]:>12}{r["delete_files"]:>14}{r["removed"]:>9}'
          f'{r["seconds"]:>9.2f}{r["rss_mib"]:>14.0f}')
ratio = res["deleted"]["seconds"] / res["clean"]["seconds"]
rss = res["deleted"]["rss_mib"] / res["clean"]["rss_mib"]
verdict = "PASS" if ratio <= target else "MISS"
print(f'deleted / clean: time {ratio:.2f}x, peak RSS {rss:.2f}x; target time <= {target}x: {verdict}')
print(f'Spark reads {a["total_rows"]} rows after compaction, the rows it read after its DELETE')
res.update(ratio=ratio, rss_ratio=rss, target=target, verdict=verdict)
json.dump(res, open(f"{root}/deletes.json", "w"), indent=2)
PY
