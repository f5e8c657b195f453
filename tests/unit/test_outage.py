"""is_store_outage: what the web answers 503 for and the workers retry, told apart from
bugs and bad data however SQLAlchemy's asyncpg adapter wraps it."""
from __future__ import annotations

import asyncpg
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app.errors import ServiceUnavailableError
from app.outage import is_store_outage


class AdapterError(Exception):
    """Stands for the adapter's own error class: no SQLSTATE of its own unless given one."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        if sqlstate is not None:
            self.sqlstate = sqlstate


def _as_the_adapter_raises(error: Exception) -> DBAPIError:
    """DBAPIError(.orig = the adapter's error, raised from the asyncpg error)."""
    try:
        try:
            raise error
        except Exception as e:
            raise AdapterError(str(e)) from e
    except AdapterError as adapted:
        return DBAPIError("INSERT INTO users ...", {}, adapted)


@pytest.mark.parametrize("error", [
    asyncpg.CannotConnectNowError("the database system is starting up"),       # 57P03
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),  # 57P01
    asyncpg.CrashShutdownError("terminating connection due to crash of another server process"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),         # 53300
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),  # 08003
    ConnectionResetError("reset by peer"),
], ids=lambda e: type(e).__name__)
def test_postgres_going_away_is_an_outage_however_wrapped(error):
    assert is_store_outage(error)
    assert is_store_outage(_as_the_adapter_raises(error))


@pytest.mark.parametrize("sqlstate", ["08006", "08001", "57P01", "57P02", "57P03", "53300"])
def test_an_outage_sqlstate_on_the_adapter_error_is_enough(sqlstate):
    assert is_store_outage(DBAPIError("SELECT 1", {}, AdapterError("refused", sqlstate)))


def test_a_dbapi_error_that_invalidated_its_connection_is_an_outage():
    assert is_store_outage(DBAPIError("SELECT 1", {}, AdapterError("gone"), connection_invalidated=True))


def test_the_types_the_mapping_always_had_stay_outages():
    assert is_store_outage(RedisConnectionError("Connection refused"))
    assert is_store_outage(OperationalError("SELECT 1", {}, AdapterError("down")))
    assert is_store_outage(TimeoutError())


def test_an_outage_translated_into_a_domain_error_is_still_one():
    try:
        try:
            raise asyncpg.CannotConnectNowError("the database system is starting up")
        except asyncpg.CannotConnectNowError as e:
            raise ServiceUnavailableError() from e
    except ServiceUnavailableError as translated:
        assert is_store_outage(translated)


@pytest.mark.parametrize("error", [
    IntegrityError("INSERT", {}, AdapterError("duplicate key", "23505")),
    _as_the_adapter_raises(asyncpg.UniqueViolationError("duplicate key")),
    _as_the_adapter_raises(asyncpg.QueryCanceledError("canceling statement due to statement timeout")),
    DBAPIError("SELECT 1", {}, AdapterError("syntax error", "42601")),
    ResponseError("WRONGTYPE"),
    ValueError("a bug"),
], ids=lambda e: f"{type(e).__name__}:{e}"[:60])
def test_bugs_and_bad_data_are_not_outages(error):
    assert not is_store_outage(error)
