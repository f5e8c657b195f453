"""PreparedRead under a burst wider than the pool: every connection goes back or is closed;
and a connection Postgres refuses is an outage (503), like one it drops."""
from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from app.db.engine import make_engine
from app.db.users import UserRepository
from app.errors import ServiceUnavailableError
from tests.integration.sessions.outage import RestartingPostgres

POOL_SIZE = 2


async def _backends(dsn: str) -> int:
    """Client connections to the test database, other than the one asking."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND pid <> pg_backend_pid()")
    finally:
        await conn.close()


async def test_a_burst_past_the_pool_closes_its_overflow_connections(database_url, caplog):
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    before = await _backends(dsn)
    engine = make_engine(database_url, pool_size=POOL_SIZE)
    users = UserRepository()
    caplog.set_level(logging.ERROR, logger="sqlalchemy")
    try:
        # Twice the pool's size at once: half of the connections are overflow ones, which
        # the pool closes (an awaited close) as they come back.
        results = await asyncio.gather(*[users.for_login(engine, f"nobody{i}@example.com")
                                         for i in range(POOL_SIZE * 2)])
        assert results == [None] * (POOL_SIZE * 2)
        assert engine.pool.checkedout() == 0
        assert engine.pool.overflow() <= 0
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        # The overflow connections' backends are gone, not left open by a failed close.
        for _ in range(50):
            if await _backends(dsn) <= before + POOL_SIZE:
                break
            await asyncio.sleep(0.05)
        assert await _backends(dsn) <= before + POOL_SIZE
        # And the pool still serves.
        assert await users.for_login(engine, "nobody@example.com") is None
    finally:
        await engine.dispose()


async def test_a_checkout_refused_by_a_restarting_postgres_is_unavailable(database_url):
    pg = RestartingPostgres()
    await pg.start()
    await pg.begin_restart()
    url = database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{pg.port}/")
    engine = make_engine(url, pool_size=POOL_SIZE, connect_timeout_s=1.0)
    users = UserRepository()
    try:
        with pytest.raises(ServiceUnavailableError):
            await users.for_login(engine, "nobody@example.com")
        pg.end_restart()
        assert await users.for_login(engine, "nobody@example.com") is None
        assert engine.pool.checkedout() == 0
    finally:
        await engine.dispose()
        await pg.stop()
