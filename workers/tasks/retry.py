"""Retry policy shared by the tasks: transient outages of Redis, Postgres or the
network are retried with exponential backoff and jitter; bugs are not."""
from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

TRANSIENT = (RedisConnectionError, RedisTimeoutError, OperationalError, InterfaceError, OSError, TimeoutError)

# For periodic tasks: the next beat run comes anyway, so give up sooner.
PERIODIC = {"autoretry_for": TRANSIENT, "retry_backoff": 1, "retry_backoff_max": 30, "retry_jitter": True,
            "max_retries": 3}
# For one-off work nobody will ask for again (a forced logout's clean-up): keep trying ~10 min.
ONE_OFF = {"autoretry_for": TRANSIENT, "retry_backoff": 1, "retry_backoff_max": 60, "retry_jitter": True,
           "max_retries": 12}
