"""More concurrent requests than Redis connections: they queue for one, they do not fail.

redis-py's default pool raises "Too many connections" the moment max_connections are in
use, which the service answered with 503 while Redis was healthy (a burst of 80 logins on
one process: a fifth of them). The pool now waits up to pool_timeout_s for a connection.
"""
from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from app.services import make_redis
from tests.support.browser import Browser

BURST = 40


async def test_a_burst_wider_than_the_pool_is_served(make_settings):
    redis = make_redis(make_settings(redis={"max_connections": 2}))
    try:
        # Each call holds its connection for a round trip that yields to the others.
        results = await asyncio.gather(*[redis.execute_command("ECHO", str(i)) for i in range(BURST)])
        assert [r.decode() for r in results] == [str(i) for i in range(BURST)]
        assert len(redis.connection_pool._in_use_connections) == 0
    finally:
        await redis.aclose()


async def test_a_pool_held_too_long_fails_after_its_timeout_not_at_once(make_settings, prefix):
    redis = make_redis(make_settings(redis={"max_connections": 2, "pool_timeout_s": 0.3}))
    try:
        # Two blocking pops hold both connections for 1.5 s (under the 2 s socket timeout).
        holders = [asyncio.create_task(redis.blpop([f"{prefix}:never-{i}"], timeout=1.5)) for i in range(2)]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(RedisConnectionError):
            await redis.execute_command("ECHO", "late")
        waited = time.monotonic() - started
        assert 0.25 <= waited < 1.2  # waited for a connection (and its one retry), then gave up
        assert await asyncio.gather(*holders) == [None, None]
        assert await redis.execute_command("ECHO", "again") == b"again"  # the pool serves once freed
    finally:
        await redis.aclose()


async def test_session_checks_beyond_the_pool_all_answer(serve, make_settings):
    # No in-process cache, so every check is a Redis round trip, on a pool of 2.
    client = await serve(make_settings(redis={"max_connections": 2}, session={"cache_ttl_s": 0}))
    browser = Browser(client)
    await browser.signed_up()

    async def check() -> int:
        return (await browser.request("GET", "/auth/session")).status

    assert await asyncio.gather(*[check() for _ in range(BURST)]) == [200] * BURST
