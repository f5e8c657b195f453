"""Redis clients: redis-py's asyncio client, packing commands with hiredis, on a
bounded pool that queues callers when every connection is busy.

redis-py's sync connections pack commands with hiredis's C packer when hiredis is
installed, but its asyncio connections still use the pure-Python packer
(redis/redis-py#4176, fix pending in #4191). That costs about 1.2 us per argument:
29 us for a refresh grant's 23-argument EVALSHA, 2.6 us with hiredis, and a login
sends three such scripts. These connection classes use the sync module's hiredis
serializer, which produces the same bytes (tests/unit/test_redisconn.py) and raises
the same DataError for values Redis cannot take.

The pool is redis-py's BlockingConnectionPool: at ``max_connections`` in use, a
caller waits (up to ``pool_timeout_s``) for one to come back. redis-py's default
pool raises "Too many connections" at once instead, so a burst of more concurrent
requests than connections answered 503 while Redis was healthy.
"""
from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import (BlockingConnectionPool, Connection, SSLConnection,
                                      UnixDomainSocketConnection, parse_url)
from redis.utils import HIREDIS_AVAILABLE

if HIREDIS_AVAILABLE:  # the condition under which redis-py's sync connections use it
    from redis.connection import HiredisRespSerializer


class _HiredisPacking:
    # hiredis encodes str as strict UTF-8: the client's default encoding, which we keep.
    if HIREDIS_AVAILABLE:
        _packer = HiredisRespSerializer()

        def pack_command(self, *args: Any) -> list[bytes]:
            return self._packer.pack(*args)


class HiredisConnection(_HiredisPacking, Connection):
    pass


class HiredisSSLConnection(_HiredisPacking, SSLConnection):
    pass


class HiredisUnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    pass


_FOR = {Connection: HiredisConnection, SSLConnection: HiredisSSLConnection,
        UnixDomainSocketConnection: HiredisUnixConnection}


def redis_from_url(url: str, *, max_connections: int = 64, pool_timeout_s: float | None = 2.0,
                   **kwargs: Any) -> Redis:
    """``Redis.from_url`` with the hiredis-packing counterpart of the URL's connection class
    (redis://, rediss:// and unix:// alike; the URL's own options still win, as there), on a
    pool of at most ``max_connections`` where a caller waits up to ``pool_timeout_s`` for a
    free connection before redis-py raises ConnectionError ("No connection available.")."""
    options = parse_url(url)
    connection_class = _FOR[options.pop("connection_class", Connection)]
    return Redis.from_pool(BlockingConnectionPool(
        connection_class=connection_class, timeout=pool_timeout_s,
        **{"max_connections": max_connections, **kwargs, **options}))
