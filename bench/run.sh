#!/usr/bin/env bash
# `make bench`: install what the harness needs, then run it once (BENCH_QUICK=1 for a fast run).
# The code under test is a snapshot of the last commit (helpers edit the work tree while the
# benchmark runs); BENCH_TREE=work measures the work tree as it is instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian package)"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
if ! $PY -c "import aiohttp_session, matplotlib" >/dev/null 2>&1; then
    echo "installing the bench extras (aiohttp-session, matplotlib)"
    $PY -m pip install -q -e '.[bench]'
fi

if [ "${BENCH_TREE:-snapshot}" = "work" ]; then
    export BENCH_APP_ROOT="$PWD"
    export BENCH_CODE="the work tree (uncommitted changes included)"
else
    export BENCH_APP_ROOT="$PWD/var/bench-src"
    rm -rf "$BENCH_APP_ROOT" && mkdir -p "$BENCH_APP_ROOT"
    git archive HEAD app config workers | tar -x -C "$BENCH_APP_ROOT"
    export BENCH_CODE="commit $(git rev-parse --short HEAD)"
fi
export PYTHONPATH="$BENCH_APP_ROOT"
exec $PY bench/harness.py "$@"
