"""The preflight checks the database the way the service connects to it: a URL the service
runs with is not refused before it starts."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request

from tests.integration.workers.procs import ROOT, env_for


def _serve(settings, *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app", "serve", *args], cwd=ROOT, env=env_for(settings, **extra),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float = 30.0) -> tuple[int | None, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err


def test_serve_runs_with_a_database_url_carrying_a_sqlalchemy_option(settings):
    """``?prepared_statement_cache_size=0`` (the usual setting behind pgbouncer) is an option of
    SQLAlchemy's asyncpg dialect, which the service's engine takes; the preflight put it in an
    asyncpg DSN, where it is sent to the server as a setting, and serve refused to start with
    'cannot reach postgres ... Start it with' although Postgres was up and the service works."""
    url = settings.database.url + "?prepared_statement_cache_size=0"
    proc = _serve(settings, "--port", "0", "--workers", "1", AUTH_DATABASE__URL=url)
    try:
        line = proc.stdout.readline()
        found = re.fullmatch(r"serving on http://127\.0\.0\.1:(\d+)\n", line)
        assert found, (line, "" if line else proc.stderr.read())
        with urllib.request.urlopen(f"http://127.0.0.1:{found.group(1)}/readyz", timeout=5) as reply:
            assert reply.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
    code, _, err = _finish(proc)
    assert code == 0 and "Traceback" not in err, err[-800:]


def test_a_database_url_option_the_service_cannot_take_is_one_sentence_and_exit_2(settings):
    """The other side of connecting as the service does: an option asyncpg.connect() does not
    take (``sslmode``, a libpq name) makes the service's engine fail with a TypeError; the
    preflight, which passed it in a DSN, let the command start and die with that traceback."""
    url = settings.database.url + "?sslmode=disable"
    proc = subprocess.Popen([sys.executable, "-m", "app", "grant-role", "nobody@example.com", "admin"], cwd=ROOT,
                            env=env_for(settings, AUTH_DATABASE__URL=url), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    code, out, err = _finish(proc)
    assert code == 2 and "Traceback" not in err, err[-1500:]
    [line] = err.strip().splitlines()
    assert line.startswith("invalid setting AUTH_DATABASE__URL: ") and "sslmode" in line, line
