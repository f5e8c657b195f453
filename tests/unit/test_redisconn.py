"""The hiredis-packing connections: the same bytes as redis-py's own packer, the same errors,
and the right class for each URL scheme."""
from __future__ import annotations

import pytest
from redis.asyncio.connection import BlockingConnectionPool, Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError
from redis.utils import HIREDIS_AVAILABLE

from app.redisconn import HiredisConnection, HiredisSSLConnection, HiredisUnixConnection, redis_from_url

COMMANDS = [
    ("SET", "k", "v"),
    ("EVALSHA", "a" * 40, 3, "p:rt:x", "p:events", "p:th:i:h", "p:", repr(1764409000.123456), 10.0, 2592000,
     -1, 0, 1e20, float("inf"), 1 / 3, 10**30, "é ü 日本", b"\x00\xff raw", bytearray(b"ba"), memoryview(b"mv")),
    ("CONFIG GET", "maxmemory"),  # a command name with a space is split, as redis-py does
    ("XADD", "s", "*", "event", "x" * 100_000),  # longer than redis-py's buffer cutoff
]


@pytest.mark.skipif(not HIREDIS_AVAILABLE, reason="hiredis is not installed")
def test_hiredis_packing_is_in_use() -> None:
    assert HiredisConnection.pack_command is not Connection.pack_command


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]))
def test_the_same_bytes_as_redis_py(command: tuple) -> None:
    ours, theirs = HiredisConnection(), Connection()
    assert b"".join(ours.pack_command(*command)) == b"".join(theirs.pack_command(*command))


@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}])
def test_values_redis_cannot_take_are_refused_as_before(value) -> None:
    with pytest.raises(DataError):
        Connection().pack_command("SET", "k", value)
    with pytest.raises(DataError):
        HiredisConnection().pack_command("SET", "k", value)


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://127.0.0.1:6379/3", HiredisConnection),
    ("rediss://cache.example:6380/0", HiredisSSLConnection),
    ("unix:///run/redis.sock?db=2", HiredisUnixConnection),
])
def test_each_scheme_gets_its_packing_connection(url: str, expected: type) -> None:
    client = redis_from_url(url, socket_timeout=1.5)
    pool = client.connection_pool
    assert pool.connection_class is expected
    assert issubclass(expected, (Connection, SSLConnection, UnixDomainSocketConnection))
    assert pool.connection_kwargs["socket_timeout"] == 1.5
    assert pool.connection_kwargs.get("db", 0) == {"redis": 3, "rediss": 0, "unix": 2}[url.split(":")[0]]
    assert client.auto_close_connection_pool  # the client owns its pool, as with Redis.from_url


def test_the_urls_own_pool_size_wins() -> None:
    client = redis_from_url("redis://127.0.0.1:6379/0?max_connections=5", max_connections=64)
    assert client.connection_pool.max_connections == 5


def test_the_service_clients_pack_with_hiredis() -> None:
    from app.services import make_redis
    from app.settings import Settings

    client = make_redis(Settings(redis={"url": "redis://127.0.0.1:6379/0", "max_connections": 7,
                                        "pool_timeout_s": 0.5}))
    pool = client.connection_pool
    assert pool.connection_class is HiredisConnection
    # Bounded, and a caller waits for a free connection rather than failing at once.
    assert isinstance(pool, BlockingConnectionPool)
    assert (pool.max_connections, pool.timeout) == (7, 0.5)
