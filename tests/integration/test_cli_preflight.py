"""Commands that need the database say, in one sentence and exit status 2, when it is not
there or not migrated to this version, instead of a page of UndefinedTable traceback."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import asyncpg
import pytest

from tests.conftest import PG_SERVER
from tests.integration.workers.procs import ROOT, env_for


@pytest.fixture
def empty_database():
    """(name, URL) of a database with no tables, dropped afterwards."""
    name = f"cli_empty_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield name, PG_SERVER.replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _run(settings, *args: str, database_url: str) -> tuple[int | None, str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "app", *args], cwd=ROOT,
                            env=env_for(settings, AUTH_DATABASE__URL=database_url), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=30)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err


def _says_to_migrate(code, out: str, err: str, problem: str) -> None:
    assert code == 2, f"exit {code}; stdout={out[-400:]!r} stderr={err[-800:]!r}"
    assert "Traceback" not in err, err[-1500:]
    [line] = err.strip().splitlines()
    assert problem in line and line.endswith("run `python -m app migrate`"), line


SERVE = ("serve", "--port", "0")
GRANT = ("grant-role", "x@example.com", "admin")


@pytest.mark.parametrize("command", [SERVE, GRANT, ("keys", "rotate")], ids=lambda c: c[0])
def test_a_database_that_does_not_exist_says_to_migrate(settings, command):
    name = f"nope_{uuid.uuid4().hex[:8]}"
    url = settings.database.url.rsplit("/", 1)[0] + f"/{name}"
    _says_to_migrate(*_run(settings, *command, database_url=url), f"the database '{name}' does not exist")


@pytest.mark.parametrize("command", [SERVE, GRANT], ids=lambda c: c[0])
def test_a_database_without_tables_says_to_migrate(settings, empty_database, command):
    _, url = empty_database
    _says_to_migrate(*_run(settings, *command, database_url=url), "has no tables of this service")


def test_a_database_behind_this_version_says_to_migrate(settings, empty_database):
    name, url = empty_database

    async def at_first_revision() -> None:
        conn = await asyncpg.connect(f"{PG_SERVER}/{name}")
        try:
            await conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
                               "INSERT INTO alembic_version VALUES ('0001_users')")
        finally:
            await conn.close()

    asyncio.run(at_first_revision())
    _says_to_migrate(*_run(settings, *SERVE, database_url=url), "is at revision 0001_users, behind this version's")


def test_migrate_then_makes_it_ready(settings, empty_database):
    _, url = empty_database
    code, out, err = _run(settings, "migrate", database_url=url)
    assert code == 0 and "latest revision" in out, err[-800:]
    code, out, err = _run(settings, *GRANT, database_url=url)
    assert code != 0 and "migrate" not in err and "Traceback" not in err, err[-800:]  # no such user: the CLI's answer


def _preflight(settings, **extra: str) -> tuple[int | None, str, str]:
    proc = subprocess.run([sys.executable, "-m", "app.preflight"], cwd=ROOT, env=env_for(settings, **extra),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("setting, url, name", [
    ("AUTH_DATABASE__URL", "postgresql+asyncpg://no_such_role_here@127.0.0.1:5432/test", "postgres"),
    ("AUTH_REDIS__URL", "redis://nobody:not-the-password@127.0.0.1:6379/0", "redis"),
    ("AUTH_BROKER__URL", "amqp://guest:not-the-password@127.0.0.1:5672//", "rabbitmq"),
], ids=["postgres-role", "redis-user", "rabbitmq-password"])
def test_a_server_that_refuses_the_login_is_not_called_down(settings, setting, url, name):
    # It said "cannot reach ... Start it with ...", sending the operator to start a running server.
    code, out, err = _preflight(settings, **{setting: url})
    assert code == 2, f"exit {code}; stdout={out[-400:]!r} stderr={err[-800:]!r}"
    assert "Traceback" not in err and "cannot reach" not in err and "Start it" not in err, err
    assert f"error: {name} at " in err and "refused the login" in err and f"Fix the user or password in {setting}" in err
    assert "not-the-password" not in err  # the URL is shown without its password


def test_a_database_url_option_the_service_cannot_take_is_one_sentence_and_exit_2(settings):
    """The other side of connecting as the service does: an option asyncpg.connect() does not
    take (``sslmode``, a libpq name) makes the service's engine fail with a TypeError; the
    preflight, which passed it in a DSN, let the command start and die with that traceback."""
    url = settings.database.url + "?sslmode=disable"
    code, out, err = _run(settings, *GRANT, database_url=url)
    assert code == 2 and "Traceback" not in err, err[-1500:]
    [line] = err.strip().splitlines()
    assert line.startswith("invalid setting AUTH_DATABASE__URL: ") and "sslmode" in line, line
