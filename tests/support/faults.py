"""Injected faults: a dependency that fails once, as a store that drops one call would."""
from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError


def failing_once(real, error: Exception | None = None):
    """An async stand-in for ``real`` whose first call raises ``error`` (a dropped Redis
    connection by default) and whose later calls go through; ``.calls`` counts them all."""
    async def stand_in(*args, **kwargs):
        stand_in.calls += 1
        if stand_in.calls == 1:
            raise error or RedisConnectionError("connection reset")
        return await real(*args, **kwargs)

    stand_in.calls = 0
    return stand_in
