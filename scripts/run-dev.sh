#!/usr/bin/env bash
# Runs SignalDB in monolithic mode (`signaldb`: every component, the compactor included, in one
# process) from the workspace root, on the embedded defaults: SQLite catalog .data/catalog.db,
# warehouse .data/storage, metrics, /healthz and /readyz on port 9091.
#
#   ./scripts/run-dev.sh                      # cargo run --bin signaldb
#   ./scripts/run-dev.sh --log-format json    # arguments go to signaldb
#   SIGNALDB_COMPACTOR_METRICS_PORT=9191 RUST_LOG=info,compactor=debug ./scripts/run-dev.sh
#
# When .data/ is empty or missing, and no configuration file points elsewhere
# ($SIGNALDB_CONFIG or ./signaldb.toml), it first writes sample data with the load generator:
# tenants acme and production, dataset prod, traces/logs/metrics, the last 6 hours as many small
# files. Stop with Ctrl-C (or SIGTERM); see docs/operations.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[run-dev] %s\n' "$*" >&2; }

uses_defaults() {
    [[ -z "${SIGNALDB_CONFIG:-}" && ! -e signaldb.toml ]] || return 1
    local arg
    for arg in "$@"; do
        [[ "$arg" == --config || "$arg" == --config=* ]] && return 1
    done
    return 0
}

if uses_defaults "$@" && [[ -z "$(ls -A .data 2>/dev/null)" ]]; then
    log ".data/ is empty: writing sample data with signaldb-loadgen"
    cargo run --quiet --bin signaldb-loadgen -- \
        --tenants acme,production --datasets prod --signals traces,logs,metrics \
        --hours 6 --files-per-hour 10 --rows-per-file 200
fi

log "cargo run --bin signaldb -- $*"
exec cargo run --bin signaldb -- "$@"
