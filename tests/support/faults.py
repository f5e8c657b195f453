"""Injected faults: a dependency that fails once, as a store that drops one call would, or\nwhose first call is held open while the test does something else."""
from __future__ import annotations

import asyncio
import contextlib

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


@contextlib.asynccontextmanager
async def first_call_held(owner, name: str):
    """``owner.<name>``'s first call does its real work, then finishes only once the yielded
    ``release`` is set; ``entered`` is set when it is held. Later calls go through."""
    real = getattr(owner, name)
    entered, release, calls = asyncio.Event(), asyncio.Event(), []

    async def held(*args, **kwargs):
        calls.append(1)
        first = len(calls) == 1  # the first to start, whichever finishes first
        result = await real(*args, **kwargs)
        if first:
            entered.set()
            await release.wait()
        return result

    setattr(owner, name, held)
    try:
        yield entered, release
    finally:
        setattr(owner, name, real)
