#!/usr/bin/env bash
# The one test command: starts what the tests need and runs the whole suite.
#
#   scripts/test.sh                      # cargo test --workspace --no-fail-fast
#   scripts/test.sh -p tests-integration --test main -- foundation::catalog_backends
#                                        # any arguments replace --workspace and go to cargo test
#
# It first checks every crate's module graph (scripts/check-modules.py and its self-test: no
# import cycle, no upward arrow), then prepares .venv-test/ (moto, pyiceberg, psycopg2, boto3,
# DuckDB and its extensions, openapi-spec-validator, from scripts/requirements-test.txt), starts moto's S3 server on
# 127.0.0.1 with a bucket, checks PostgreSQL at 127.0.0.1:5432, makes promtool available (Debian's prometheus package),
# libfaketime (Debian's faketime), Spark's Java and JDBC drivers (Debian's
# openjdk-17-jre-headless, libxerial-sqlite-jdbc-java, libpostgresql-jdbc-java; pyspark and
# the Iceberg runtime jar are in the venv) and headless Chromium (Debian's chromium), exports the SIGNALDB_TEST_* variables the
# integration tests read,
# builds the binaries and runs the tests.
# See docs/testing.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

log "module graphs: scripts/check-modules.py --self-test, then every crate"
python3 scripts/check-modules.py --self-test
python3 scripts/check-modules.py

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SERVICES_DIR="$TARGET_DIR/test-services"
VENV_DIR="${SIGNALDB_TEST_VENV:-$ROOT/.venv-test}"
BUCKET="signaldb-test"
PG_URL="${SIGNALDB_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
mkdir -p "$SERVICES_DIR"

MOTO_PID=""
MOTO_LOG="$(mktemp --suffix=.log "$SERVICES_DIR/moto.XXXXXX")"
cleanup() {
    local rc=$?
    if [[ -n "$MOTO_PID" ]]; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
    fi
    if [[ $rc -eq 0 ]]; then
        rm -f "$MOTO_LOG"
    else
        log "failed (exit $rc); moto's log is kept at $MOTO_LOG"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_venv "$VENV_DIR" scripts/requirements-test.txt

export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

start_moto "$VENV_DIR" "$MOTO_LOG" "$BUCKET"
export SIGNALDB_TEST_S3_ENDPOINT="$MOTO_ENDPOINT"
export SIGNALDB_TEST_S3_BUCKET="$BUCKET"
export SIGNALDB_TEST_PYTHON="$VENV_DIR/bin/python"

if ensure_postgres "$VENV_DIR/bin/python" "$PG_URL"; then
    log "PostgreSQL ready at $PG_URL"
    export SIGNALDB_TEST_PG_URL="$PG_URL"
elif is_ci; then
    die "PostgreSQL at $PG_URL is not reachable and CI=true makes the PostgreSQL suites mandatory"
else
    log "WARNING: PostgreSQL at $PG_URL is not reachable; PostgreSQL tests will be SKIPPED"
    unset SIGNALDB_TEST_PG_URL
fi

if ensure_promtool; then
    log "promtool at $PROMTOOL"
    export SIGNALDB_TEST_PROMTOOL="$PROMTOOL"
elif is_ci; then
    die "promtool is missing and could not be installed; CI=true makes the monitoring suites mandatory"
else
    log "WARNING: promtool is missing; monitoring tests will be SKIPPED"
fi

if ensure_spark "$VENV_DIR/bin/python"; then
    log "Spark with Iceberg: $SPARK_JARS"
    export SIGNALDB_TEST_SPARK_JARS="$SPARK_JARS"
elif is_ci; then
    die "Spark (Java 17, JDBC drivers, the Iceberg runtime jar) is missing and could not be installed; CI=true makes the Spark suites mandatory"
else
    log "WARNING: Spark is missing; Spark tests will be SKIPPED"
fi

if ensure_libfaketime; then
    log "libfaketime at $LIBFAKETIME"
    export SIGNALDB_TEST_LIBFAKETIME="$LIBFAKETIME"
elif is_ci; then
    die "libfaketime is missing and could not be installed; CI=true makes the clock-skew tests mandatory"
else
    log "WARNING: libfaketime is missing; clock-skew tests will be SKIPPED"
fi

if ensure_chromium; then
    log "Chromium at $CHROMIUM"
    export SIGNALDB_TEST_CHROMIUM="$CHROMIUM"
elif is_ci; then
    die "Chromium is missing and could not be installed; CI=true makes the web page's browser tests mandatory"
else
    log "WARNING: Chromium is missing; the web page's browser tests will be SKIPPED"
fi

export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

log "cargo build --locked --workspace --bins"
cargo build --locked --workspace --bins
# The binaries are fresh: the integration fixtures need not build them again.
export SIGNALDB_TEST_BINS_FRESH=1

if [[ $# -gt 0 ]]; then
    log "cargo test $*"
    cargo test "$@"
else
    log "cargo test --workspace --no-fail-fast"
    cargo test --workspace --no-fail-fast
fi
