# Helpers for scripts/test.sh: the Python venv, moto's S3 server and the PostgreSQL check.
# Sourced, not run. Every address used here is on loopback.

log() { printf '[test.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_ci() { [[ "${CI:-}" == "true" ]]; }

# ensure_venv DIR REQUIREMENTS
# Creates DIR as a venv if it is missing or broken, and installs REQUIREMENTS into it whenever the
# file (or the interpreter) changed since the last successful install. Sets VENV_PYTHON.
ensure_venv() {
    local dir="$1" req="$2" python="${SIGNALDB_TEST_BASE_PYTHON:-python3}"
    command -v "$python" >/dev/null || die "$python not found; CPython 3.11 is needed for the test venv"
    if ! "$dir/bin/python" -c 'import sys' >/dev/null 2>&1; then
        log "creating venv $dir"
        rm -rf "$dir"
        "$python" -m venv "$dir" || die "could not create venv $dir"
    fi
    VENV_PYTHON="$dir/bin/python"
    local stamp_file="$dir/.requirements.sha256" want have=""
    want="$( { "$VENV_PYTHON" --version; cat "$req"; } | sha256sum | cut -d' ' -f1)"
    [[ -f "$stamp_file" ]] && have="$(cat "$stamp_file")"
    if [[ "$want" != "$have" ]]; then
        log "installing $(basename "$req") into $dir"
        "$VENV_PYTHON" -m pip install --quiet --disable-pip-version-check -r "$req" \
            || die "pip install -r $req failed"
        echo "$want" > "$stamp_file"
    fi
}

# free_port PYTHON: prints a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    "$1" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# start_moto VENV_DIR LOG_FILE BUCKET
# Starts moto_server on 127.0.0.1 at a free port in the background, waits until it answers and
# creates BUCKET. Sets MOTO_PID and MOTO_ENDPOINT; the caller kills MOTO_PID on exit.
start_moto() {
    local venv="$1" logfile="$2" bucket="$3" port attempt
    for attempt in 1 2 3; do
        port="$(free_port "$venv/bin/python")"
        log "starting moto_server on 127.0.0.1:$port (log: $logfile)"
        "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 &
        MOTO_PID=$!
        MOTO_ENDPOINT="http://127.0.0.1:$port"
        if "$venv/bin/python" - "$MOTO_ENDPOINT" "$bucket" <<'PY'
import sys, time
import boto3, botocore.exceptions
endpoint, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
deadline = time.monotonic() + 60
while True:
    try:
        s3.create_bucket(Bucket=bucket)
        break
    except botocore.exceptions.EndpointConnectionError:
        if time.monotonic() > deadline:
            sys.exit(f"moto_server at {endpoint} did not answer within 60 s")
        time.sleep(0.2)
s3.head_bucket(Bucket=bucket)
PY
        then
            log "moto_server ready at $MOTO_ENDPOINT, bucket $bucket created"
            return 0
        fi
        log "moto_server did not come up (attempt $attempt); log follows"
        tail -n 20 "$logfile" >&2 || true
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
        MOTO_PID=""
    done
    die "could not start moto_server"
}

# postgres_ready PYTHON URL: exits 0 when URL accepts a connection, creating its database if the
# server is up but the database is missing.
postgres_ready() {
    "$1" - "$2" <<'PY' 2>/dev/null
import sys
from urllib.parse import urlparse
import psycopg2
url = sys.argv[1]
try:
    psycopg2.connect(url, connect_timeout=3).close()
except psycopg2.OperationalError as e:
    if "does not exist" not in str(e):
        sys.exit(1)
    db = urlparse(url).path.lstrip("/")
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{db}"')
    admin.close()
    psycopg2.connect(url, connect_timeout=3).close()
PY
}

# ensure_postgres PYTHON URL: exits 0 when PostgreSQL at URL is usable, trying to start the local
# cluster once if it is not.
ensure_postgres() {
    local python="$1" url="$2" i
    postgres_ready "$python" "$url" && return 0
    if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
        local version
        for version in $(ls /etc/postgresql); do
            log "PostgreSQL not reachable; starting cluster $version/main"
            pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
        done
        for i in $(seq 1 30); do
            postgres_ready "$python" "$url" && return 0
            sleep 1
        done
    fi
    return 1
}

# Makes promtool (Debian's `prometheus` package: promtool and the server) available, installing
# the package when it is missing; sets PROMTOOL. The package's service is not started: a
# policy-rc.d refusing starts is put in place for the install when none exists.
ensure_promtool() {
    if ! command -v promtool >/dev/null 2>&1; then
        log "installing Debian's prometheus package (promtool)"
        local policy=/usr/sbin/policy-rc.d placed=0
        if [[ ! -e "$policy" ]]; then
            printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && placed=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >&2; } \
            || log "WARNING: apt-get install prometheus failed"
        [[ $placed -eq 1 ]] && rm -f "$policy"
    fi
    PROMTOOL="$(command -v promtool || true)"
    [[ -n "$PROMTOOL" ]]
}

# Makes Apache Spark with Iceberg usable from the test venv VENV_PYTHON (pyspark and the Iceberg
# runtime jar come from scripts/requirements-test.txt): Java 17 and the SQLite and PostgreSQL
# JDBC drivers from Debian, installed when missing. Sets SPARK_JARS to the comma-separated jars
# a Spark session needs.
ensure_spark() {
    local python="$1" sqlite=/usr/share/java/sqlite-jdbc.jar pg=/usr/share/java/postgresql.jar
    local packages=()
    command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
    [[ -e "$sqlite" ]] || packages+=(libxerial-sqlite-jdbc-java)
    [[ -e "$pg" ]] || packages+=(libpostgresql-jdbc-java)
    if [[ ${#packages[@]} -gt 0 ]]; then
        log "installing Debian's ${packages[*]} (Spark's Java and JDBC drivers)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" >&2; } \
            || log "WARNING: apt-get install ${packages[*]} failed"
    fi
    SPARK_JARS=""
    command -v java >/dev/null 2>&1 && [[ -e "$sqlite" && -e "$pg" ]] || return 1
    local runtime
    runtime="$("$python" -c 'import glob, os, snowpark_connect_deps_iceberg as m
print(*glob.glob(os.path.join(os.path.dirname(m.__file__), "jars", "iceberg-spark-runtime-3.5_2.12-*.jar")))' 2>/dev/null)" \
        || return 1
    [[ -n "$runtime" && -e "$runtime" ]] || return 1
    SPARK_JARS="$runtime,$sqlite,$pg"
}

# Makes libfaketime (Debian's `faketime` package) available, installing the package when it is
# missing; sets LIBFAKETIME. The clock-skew tests LD_PRELOAD it to run a binary on a clock hours
# ahead of or behind the machine's.
ensure_libfaketime() {
    local lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
    if [[ ! -e "$lib" ]]; then
        log "installing Debian's faketime package (libfaketime)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends faketime >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends faketime >&2; } \
            || log "WARNING: apt-get install faketime failed"
    fi
    LIBFAKETIME=""
    [[ -e "$lib" ]] && LIBFAKETIME="$lib"
    [[ -n "$LIBFAKETIME" ]]
}

# Makes headless Chromium (Debian's `chromium` package) available, installing it when it is
# missing; sets CHROMIUM. The web page's end-to-end tests load the compactor's pages in it
# (--dump-dom, --screenshot, and clicks through the DevTools protocol over a pipe).
ensure_chromium() {
    if ! command -v chromium >/dev/null 2>&1; then
        log "installing Debian's chromium package (headless browser for the web page's tests)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2 \
            || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2; } \
            || log "WARNING: apt-get install chromium failed"
    fi
    CHROMIUM="$(command -v chromium || true)"
    [[ -n "$CHROMIUM" ]]
}
