#!/usr/bin/env bash
# The scale-out benchmark: N tables compacted by M = 1, 2 and 3 `compactor compact` processes
# started at once on one PostgreSQL catalog, each case on a fresh copy of the same loaded state.
# Prints, per M: group rewrites per committed group (1.00 means no instance redid or threw away
# another's work), groups committed and abandoned, tables each instance worked on or skipped,
# and wall time as a ratio of M = 1's; then the lease overhead per table (acquire, check,
# release) on PostgreSQL and SQLite. See docs/benchmarks.md.
#
#   scripts/bench-scale-out.sh            # 12 tables x 8 hours x 10 files of 2,000 rows
#   scripts/bench-scale-out.sh --quick    # 12 tables x 3 hours x 4 files of 500 rows
#   scripts/bench-scale-out.sh --keep     # keep the temporary directory and print where it is
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and creates and drops databases
# named bench_scale_out_*. Writes target/bench/scale-out.json.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

QUICK=0
KEEP=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (try --help)" ;;
    esac
done
TENANTS=t0,t1,t2,t3
if [[ $QUICK -eq 1 ]]; then HOURS=3 FILES=4 ROWS=500; else HOURS=8 FILES=10 ROWS=2000; fi
PG_HOST=127.0.0.1 PG_PORT=5432 PG_USER=postgres
PSQL=(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -q -t -A)
"${PSQL[@]}" -c 'SELECT 1' >/dev/null || die "PostgreSQL is not reachable on $PG_HOST:$PG_PORT"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
OUT_JSON="$TARGET_DIR/bench/scale-out.json"
log "cargo build --release --bins -p signal-producer -p compactor -p compaction-bench"
cargo build --release --bins -p signal-producer -p compactor -p compaction-bench

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-scale-out.XXXXXX")"
BASE_DB="bench_scale_out_$$"
cleanup() {
    for db in $("${PSQL[@]}" -c "SELECT datname FROM pg_database WHERE datname LIKE '${BASE_DB}%'"); do
        "${PSQL[@]}" -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null || true
    done
    if [[ $KEEP -eq 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# write_config FILE DATABASE: the benchmark's configuration on DATABASE and $WORK/state.
write_config() {
    cat > "$1" <<CONF
[compactor]
metrics_port = 0
min_input_files = 2
max_concurrent_jobs = 2
quiet_period_secs = 3600

[storage]
dsn = "file://$WORK/state/warehouse"

[schema]
catalog_uri = "postgres://$PG_USER@$PG_HOST:$PG_PORT/$2"
catalog_name = "signaldb"
CONF
}

log "loading $TENANTS x traces,logs,metrics: $HOURS closed hours x $FILES files x $ROWS rows"
"${PSQL[@]}" -c "CREATE DATABASE \"$BASE_DB\"" >/dev/null
write_config "$WORK/base.toml" "$BASE_DB"
"$BIN/signaldb-loadgen" --config "$WORK/base.toml" --tenants "$TENANTS" --datasets prod \
    --signals traces,logs,metrics --hours "$HOURS" --files-per-hour "$FILES" \
    --rows-per-file "$ROWS" --seed 21 --end-time 2026-01-15T12:00:00Z --json > "$WORK/load.json"
cp -a "$WORK/state" "$WORK/base"

mkdir -p "$WORK/results"
for m in 1 2 3; do
    db="${BASE_DB}_m$m"
    "${PSQL[@]}" -c "CREATE DATABASE \"$db\" TEMPLATE \"$BASE_DB\"" >/dev/null
    rm -rf "$WORK/state" && cp -a "$WORK/base" "$WORK/state"
    write_config "$WORK/m$m.toml" "$db"
    log "M = $m: $m x compactor compact"
    start=$(date +%s.%N)
    pids=()
    for i in $(seq 1 "$m"); do
        RUST_LOG=info "$BIN/compactor" --config "$WORK/m$m.toml" compact --json \
            > "$WORK/results/m$m-$i.json" 2> "$WORK/results/m$m-$i.log" &
        pids+=("$!")
    done
    failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    if [[ $failed -eq 1 ]]; then
        tail -n 20 "$WORK"/results/m"$m"-*.log >&2
        die "a compactor of M = $m failed"
    fi
    end=$(date +%s.%N)
    echo "{\"m\": $m, \"start\": $start, \"end\": $end}" > "$WORK/results/m$m.wall.json"
done

log "lease overhead per table: PostgreSQL, then SQLite"
"$BIN/compaction-bench" lease-overhead --catalog-uri "postgres://$PG_USER@$PG_HOST:$PG_PORT/$BASE_DB" \
    --tables 200 --rounds 5 > "$WORK/results/lease-pg.json"
"$BIN/compaction-bench" lease-overhead --catalog-uri "sqlite://$WORK/lease.db?mode=rwc" \
    --tables 200 --rounds 5 > "$WORK/results/lease-sqlite.json"

mkdir -p "$(dirname "$OUT_JSON")"
python3 - "$WORK/results" "$OUT_JSON" "$WORK/load.json" <<'PY'
import glob, json, os, sys
results, out_path, load_path = sys.argv[1], sys.argv[2], sys.argv[3]
load = json.load(open(load_path))
cases = []
for m in (1, 2, 3):
    committed = abandoned = 0
    per_instance = []
    for i in range(1, m + 1):
        doc = json.load(open(f"{results}/m{m}-{i}.json"))
        log = open(f"{results}/m{m}-{i}.log").read()
        worked = skipped = 0
        for report in doc["reports"]:
            for t in report["tables"]:
                if t.get("skipped"):
                    skipped += 1
                    continue
                worked += 1
                groups = ((t.get("details") or {}).get("execution") or {}).get("groups") or []
                committed += sum(1 for g in groups if g["status"] == "committed")
                abandoned += sum(1 for g in groups if g["status"] != "committed")
        assert doc["failures"] == 0, f"M={m} instance {i} had failures"
        per_instance.append({"worked": worked, "skipped": skipped,
                             "abandoned_log_lines": log.count("Abandoned compaction group")})
    times = json.load(open(f"{results}/m{m}.wall.json"))
    wall = times["end"] - times["start"]
    cases.append({"instances": m, "groups_committed": committed, "groups_abandoned": abandoned,
                  "rewrites_per_committed_group": (committed + abandoned) / committed if committed else None,
                  "wall_secs": wall, "per_instance": per_instance})
base = cases[0]["wall_secs"]
lease = {k: json.load(open(f"{results}/lease-{k}.json")) for k in ("pg", "sqlite")}
doc = {"workload": {"tables": load.get("tables", 12), "files": load["total_files"],
                    "rows": load["total_rows"]}, "cases": cases, "lease_overhead": lease}
print(f"workload: {load['total_files']} files, {load['total_rows']} rows")
print(f"{'M':>2} {'committed':>9} {'abandoned':>9} {'rewrites/group':>14} {'wall s':>7} {'vs M=1':>7}  worked/skipped per instance")
for c in cases:
    r = c["rewrites_per_committed_group"]
    ok = "ok" if r is not None and abs(r - 1.0) < 1e-9 else "MISS"
    spread = ", ".join(f"{p['worked']}/{p['skipped']}" for p in c["per_instance"])
    print(f"{c['instances']:>2} {c['groups_committed']:>9} {c['groups_abandoned']:>9} {r:>10.2f} {ok:<3} {c['wall_secs']:>7.2f} {c['wall_secs'] / base:>6.2f}x  {spread}")
for k, name in (("pg", "PostgreSQL"), ("sqlite", "SQLite")):
    ms = lease[k]["per_table_ms_median"]
    target = " (target < 5 ms: " + ("ok" if ms < 5 else "MISS") + ")" if k == "pg" else ""
    print(f"lease overhead per table on {name}: {ms:.2f} ms{target}")
json.dump(doc, open(out_path, "w"), indent=2)
print(f"results written to {out_path}")
PY
