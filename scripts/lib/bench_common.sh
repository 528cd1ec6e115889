# shellcheck shell=bash
# What every benchmark script does first. Sourced after scripts/lib/services.sh, not run.

# pyiceberg 0.12 declares pyiceberg-core>=0.10.1,<0.11.0; it is needed to write into hour()
# partitions and is installed here rather than in the test requirements.
PYICEBERG_CORE=pyiceberg-core==0.10.1

# bench_venv VENV_DIR: the test venv (scripts/requirements-test.txt) with PYICEBERG_CORE in it;
# sets VENV_PYTHON.
bench_venv() {
    local dir="$1"
    ensure_venv "$dir" scripts/requirements-test.txt
    if ! "$VENV_PYTHON" -c 'import pyiceberg_core' 2>/dev/null \
        || [[ "$("$VENV_PYTHON" -c 'import importlib.metadata as m; print(m.version("pyiceberg-core"))')" \
              != "${PYICEBERG_CORE#*==}" ]]; then
        log "installing $PYICEBERG_CORE into $dir"
        "$VENV_PYTHON" -m pip install --quiet --disable-pip-version-check "$PYICEBERG_CORE" \
            || die "pip install $PYICEBERG_CORE failed"
    fi
}

# bench_workdir NAME: sets WORK to a new temporary directory, removed at exit unless KEEP is 1.
bench_workdir() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

bench_cleanup() {
    if [[ ${KEEP:-0} -eq 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
