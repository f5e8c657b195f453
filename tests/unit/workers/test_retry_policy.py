"""The tasks' retry decision: a store outage is retried with backoff even when it
arrives as a plain DBAPIError; a bug or bad data fails the task at once."""
from __future__ import annotations

import asyncpg
import pytest
from celery import Celery
from sqlalchemy.exc import DBAPIError, IntegrityError

from workers.tasks.retry import ONE_OFF, PERIODIC


class AdapterError(Exception):
    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _restarting() -> DBAPIError:
    """What a statement meets while Postgres restarts, as SQLAlchemy's asyncpg adapter raises it."""
    try:
        raise asyncpg.CannotConnectNowError("the database system is starting up")
    except asyncpg.CannotConnectNowError as e:
        return DBAPIError("SELECT 1", {}, AdapterError(str(e), e.sqlstate))


@pytest.fixture
def app():
    return Celery("retry-policy-test", set_as_current=False)


def _flaky(app, policy: dict, failures: list[Exception]):
    """A task that raises ``failures`` one per run, then returns how many runs it took."""
    runs = []

    @app.task(name=f"flaky-{id(failures)}", **policy)
    def flaky():
        runs.append(1)
        if failures:
            raise failures.pop(0)
        return len(runs)
    return flaky, runs


@pytest.mark.parametrize("policy", [PERIODIC, ONE_OFF], ids=["periodic", "one_off"])
def test_an_outage_surfacing_as_a_plain_dbapi_error_is_retried(app, policy):
    task, _ = _flaky(app, policy, [_restarting(), _restarting()])
    assert task.apply().get() == 3  # eager: the retries run in place, without the backoff wait


@pytest.mark.parametrize("policy", [PERIODIC, ONE_OFF], ids=["periodic", "one_off"])
@pytest.mark.parametrize("error", [
    IntegrityError("INSERT", {}, AdapterError("duplicate key", "23505")),
    ValueError("a bug"),
], ids=["integrity", "bug"])
def test_bugs_and_bad_data_fail_at_once(app, policy, error):
    task, runs = _flaky(app, policy, [error])
    result = task.apply()
    assert result.failed() and str(error.args[0]) in str(result.result)  # (a pickleable copy of it)
    assert len(runs) == 1


def test_an_outage_that_lasts_gives_up_after_max_retries(app):
    task, runs = _flaky(app, PERIODIC, [_restarting() for _ in range(10)])
    result = task.apply()
    assert result.failed() and "starting up" in str(result.result)
    assert len(runs) == PERIODIC["max_retries"] + 1
