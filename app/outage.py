"""Whether an exception means a backing store is unreachable: the one test behind the
web's 503, the workers' retries and the prepared reads' pool renewal."""
from __future__ import annotations

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# Raised as one of these, an error is an outage whatever its message.
OUTAGE_TYPES = (RedisConnectionError, RedisTimeoutError, OperationalError, InterfaceError,
                asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                asyncpg.AdminShutdownError, asyncpg.CrashShutdownError, asyncpg.TooManyConnectionsError,
                ConnectionError, TimeoutError, OSError)

# A restarting or full Postgres answers with these; SQLAlchemy's asyncpg adapter hands
# them over as a plain DBAPIError, so only the SQLSTATE tells them from a bad statement.
_OUTAGE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})  # shutdown, crash, starting up, full


def is_store_outage(exc: BaseException) -> bool:
    """True when ``exc``, or what it wraps (``.orig``, ``__cause__``), says Redis or
    Postgres is unreachable, restarting or out of connections: worth a retry, not a bug."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OUTAGE_TYPES):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _OUTAGE_SQLSTATES):
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False
