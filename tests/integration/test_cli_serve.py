"""``python -m app serve`` listens where it says, or says in one sentence why it cannot, and
exits non-zero: never a traceback, never a silent success, never another port."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

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


def _answers_then_stops(proc: subprocess.Popen, announced: str, path: str = "/healthz") -> str:
    """Reads the line ``proc`` announces itself with (which must match ``announced``, a regex
    whose group 1 is the port), asks ``path`` there for a 200, then stops it: status 0, no
    traceback. Returns the port."""
    try:
        line = proc.stdout.readline()
        found = re.fullmatch(announced, line)
        assert found, (line, "" if line else proc.stderr.read())
        with urllib.request.urlopen(f"http://127.0.0.1:{found.group(1)}{path}", timeout=5) as reply:
            assert reply.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
    code, _, err = _finish(proc)
    assert code == 0 and "Traceback" not in err, err[-800:]
    return found.group(1)


def _said_once(code, out: str, err: str, sentence: str) -> None:
    assert code == 2, f"exit {code}; stdout={out[-400:]!r} stderr={err[-800:]!r}"
    assert "Traceback" not in err, err[-1500:]
    said = [line for line in err.splitlines() if sentence in line]
    assert len(said) == 1, err[-800:]
    assert "serving on" not in out


@pytest.fixture
def busy_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_port_in_use_is_one_sentence_naming_it_and_exit_2(settings, busy_port, processes):
    # With several processes the parent exited 0 once its children had died of it.
    proc = _serve(settings, "--port", str(busy_port), "--host", "127.0.0.1", AUTH_HTTP__WORKERS=processes)
    code, out, err = _finish(proc)
    _said_once(code, out, err, f"cannot listen on 127.0.0.1:{busy_port} (Address already in use)")


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_port_another_instance_shares_among_its_processes_is_in_use(settings, processes):
    # Several processes bind with SO_REUSEPORT, and the kernel lets any socket of the same user
    # that sets it join them: a second instance served half the first one's connections.
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code, out, err = _finish(_serve(settings, "--port", str(port), "--host", "127.0.0.1",
                                        AUTH_HTTP__WORKERS=processes), timeout=20)
    _said_once(code, out, err, f"cannot listen on 127.0.0.1:{port} (Address already in use)")


@pytest.mark.parametrize("flags, complaint", [
    (("--port", "70000"), "argument --port: 70000 is not a TCP port"),  # it listened on 70000 & 0xFFFF = 4464
    (("--port", "-1"), "argument --port: -1 is not a TCP port"),
    (("--port", "http"), "argument --port: not a port number"),
    (("--workers", "-3", "--port", "0"), "argument --workers: must be 0"),  # it exited 0 having served nothing
])
def test_flags_that_cannot_work_are_refused(settings, flags, complaint):
    code, out, err = _finish(_serve(settings, *flags))
    _said_once(code, out, err, complaint)


def test_port_0_listens_on_a_free_port_and_says_which(settings):
    # `args.port or settings.http.port` took --port 0 for "not given".
    proc = _serve(settings, "--port", "0", "--workers", "1", AUTH_HTTP__PORT="1")
    assert _answers_then_stops(proc, r"serving on http://127\.0\.0\.1:(\d+)\n") not in ("0", "1")


def test_port_0_with_several_processes_is_refused(settings):
    # Each would bind a free port of its own: no port would be shared, none announced.
    code, out, err = _finish(_serve(settings, "--port", "0", "--workers", "2"))
    _said_once(code, out, err, "port 0 (any free port) needs a single web process")


def test_several_processes_listen_then_stop_with_status_0(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _serve(settings, "--port", str(port), "--workers", "2")
    _answers_then_stops(proc, rf"serving on http://127\.0\.0\.1:({port}) with 2 processes\n")


def test_serve_runs_with_a_database_url_carrying_a_sqlalchemy_option(settings):
    """``?prepared_statement_cache_size=0`` (the usual setting behind pgbouncer) is an option of
    SQLAlchemy's asyncpg dialect, which the service's engine takes; the preflight put it in an
    asyncpg DSN, where it is sent to the server as a setting, and serve refused to start with
    'cannot reach postgres ... Start it with' although Postgres was up and the service works."""
    url = settings.database.url + "?prepared_statement_cache_size=0"
    proc = _serve(settings, "--port", "0", "--workers", "1", AUTH_DATABASE__URL=url)
    _answers_then_stops(proc, r"serving on http://127\.0\.0\.1:(\d+)\n", "/readyz")
