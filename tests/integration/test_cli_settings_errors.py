"""A setting that cannot work stops every entry point (the CLI, the Celery worker and
beat) with one line per refused setting, named as its AUTH_* variable, and exit
status 2: an operator's typo, not a traceback."""
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
BAD = {"AUTH_HTTP__PORT": "abc", "AUTH_WORKERS__BATCH_SIZE": "0"}


def _run(*command: str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}, **BAD}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", [
    (sys.executable, "-m", "app", "migrate"),
    (sys.executable, "-m", "app", "serve"),
    (sys.executable, "-m", "app", "create-user", "admin@example.com", "--password-stdin"),
    (CELERY, "-A", "workers", "worker"),
    (CELERY, "-A", "workers", "beat"),
], ids=lambda c: " ".join(c[-3:] if "celery" in c[0] else c[2:4]))
def test_a_bad_setting_is_named_not_traced(command):
    done = _run(*command)
    assert done.returncode == 2, done.stderr[-1500:]
    assert "Traceback" not in done.stderr, done.stderr[-1500:]
    lines = done.stderr.strip().splitlines()
    assert sorted(lines) == [
        "invalid setting AUTH_HTTP__PORT: Input should be a valid integer, unable to parse string as an integer",
        "invalid setting AUTH_WORKERS__BATCH_SIZE: Input should be greater than 0",
    ]


# --- values that parse but cannot work, through every entry point -------------------------

def _start(command: list[str], env: dict[str, str], timeout: float = 30.0) -> tuple[int | None, str]:
    """(exit status, or None if still running after ``timeout``; stdout and stderr together)."""
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        return proc.wait(timeout), proc.stdout.read()
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None, proc.stdout.read()


def _named_at_start(code: int | None, out: str, name: str) -> None:
    assert code == 2, (code, out[-800:])
    assert "Traceback" not in out, out[-1500:]
    assert f"invalid setting {name}" in out, out[-800:]


def _env(settings, **extra: str) -> dict[str, str]:
    from tests.integration.workers.procs import env_for

    # A queue of its own: a worker that did start must not take anyone's tasks.
    return env_for(settings, AUTH_WORKERS__QUEUE=f"cli-{uuid.uuid4().hex[:8]}", **extra)


CANNOT_WORK = {"AUTH_SECURITY__DATA_KEY": "not base64 at all!", "AUTH_BROKER__URL": "foo://127.0.0.1:1/",
               "AUTH_REDIS__URL": "http://127.0.0.1:6379/0", "AUTH_COOKIE__NAME": "sid;Domain=evil.example",
               "AUTH_DATABASE__URL": "postgres//oops"}


def _entry_point(kind: str) -> list[str]:
    if kind == "serve":
        return [sys.executable, "-m", "app", "serve", "--port", "0"]
    # A worker with a bad data key said "ready." and then failed every task it took.
    return [CELERY, "-A", "workers", kind, "--loglevel=INFO", *(
        ["--pool=solo", "--without-mingle", "--without-gossip", "--without-heartbeat",
         "-n", f"cli{uuid.uuid4().hex[:6]}@%h"] if kind == "worker" else ["--schedule", os.devnull])]


@pytest.mark.parametrize("name", list(CANNOT_WORK))
@pytest.mark.parametrize("kind", ["serve", "worker", "beat"])
def test_a_value_that_cannot_work_stops_each_process_at_start_naming_it(settings, kind, name):
    _named_at_start(*_start(_entry_point(kind), _env(settings, **{name: CANNOT_WORK[name]})), name)


GRANT = ("grant-role", "x@example.com", "admin")


@pytest.mark.parametrize("name, command", [
    ("AUTH_REDIS__URL", GRANT), ("AUTH_REDIS__URL", ("keys", "rotate")), ("AUTH_REDIS__URL", ("events", "tail")),
    ("AUTH_DATABASE__URL", ("migrate",)), ("AUTH_DATABASE__URL", GRANT), ("AUTH_SECURITY__DATA_KEY", GRANT),
], ids=lambda v: v if isinstance(v, str) else v[0])
def test_cli_commands_name_a_value_that_cannot_work(settings, command, name):
    _named_at_start(*_start([sys.executable, "-m", "app", *command],
                            _env(settings, **{name: CANNOT_WORK[name]})), name)


def test_a_password_minimum_above_the_maximum_is_refused_at_start(settings):
    # Every password would be refused: nobody could ever register.
    _named_at_start(*_start([sys.executable, "-m", "app", "migrate"], _env(settings, AUTH_PASSWORD__MIN_LENGTH="300")),
                    "AUTH_PASSWORD__*")


# --- the AUTH_CONFIG file -----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["migrate", "worker"])
def test_a_missing_auth_config_file_is_an_error_not_ignored(settings, tmp_path, kind):
    missing = tmp_path / "nowhere" / "prod.toml"
    command = [sys.executable, "-m", "app", "migrate"] if kind == "migrate" else _entry_point(kind)
    code, out = _start(command, _env(settings, AUTH_CONFIG=str(missing)))
    _named_at_start(code, out, "AUTH_CONFIG")
    assert str(missing) in out


def test_a_malformed_auth_config_file_is_named_not_traced(settings, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[http\nport = 1\n")
    code, out = _start([sys.executable, "-m", "app", "migrate"], _env(settings, AUTH_CONFIG=str(bad)))
    _named_at_start(code, out, "AUTH_CONFIG")
    assert f"{bad} is not valid TOML" in out


def test_a_misspelled_key_in_the_auth_config_file_is_not_silently_ignored(settings, tmp_path):
    # The operator meant to shorten the idle timeout; the typo left 1800 s in force, silently.
    conf = tmp_path / "prod.toml"
    conf.write_text("[session]\nidle_timeout = 300\n")
    code, out = _start([sys.executable, "-m", "app", "migrate"], _env(settings, AUTH_CONFIG=str(conf)))
    _named_at_start(code, out, "AUTH_SESSION__IDLE_TIMEOUT")
    assert "session.idle_timeout" in out
