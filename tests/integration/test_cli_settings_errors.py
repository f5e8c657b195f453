"""A setting that cannot work stops every entry point (the CLI, the Celery worker and
beat) with one line per refused setting, named as its AUTH_* variable, and exit
status 2: an operator's typo, not a traceback."""
import os
import subprocess
import sys
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
