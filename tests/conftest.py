"""Shared fixtures: real Postgres (a throwaway database per test run) and real
Redis (a key prefix per test), the app served on a real socket."""
from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from app.db.migrate import upgrade
from app.server import create_app
from app.settings import Settings

PG_SERVER = os.environ.get("TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("TEST_REDIS", "redis://127.0.0.1:6379/0")
TEST_DB = f"auth_test_{os.getpid()}"
DATABASE_URL = f"{PG_SERVER.replace('postgresql://', 'postgresql+asyncpg://')}/{TEST_DB}"


async def _drop_db() -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url() -> str:
    """A fresh, migrated database for this test run, dropped at the end."""
    asyncio.run(_drop_db())
    upgrade(DATABASE_URL)
    yield DATABASE_URL
    asyncio.run(_drop_db())


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_settings(database_url: str, prefix: str):
    """Settings for this test: its own Redis key prefix and event stream."""
    def make(**overrides) -> Settings:
        base = {
            "database": {"url": database_url},
            "redis": {"url": REDIS_URL, "key_prefix": prefix},
            "events": {"stream": f"{prefix}:events"},
        }
        for section, values in overrides.items():
            base.setdefault(section, {}).update(values)
        return Settings(**base)
    return make


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    keys = [k async for k in client.scan_iter(f"{prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def serve():
    """Start an app on a real socket: ``client = await serve(settings)``."""
    clients: list[TestClient] = []

    async def start(settings: Settings) -> TestClient:
        client = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def client(serve, settings) -> TestClient:
    return await serve(settings)


@pytest.fixture
def private_redis():
    """A Redis server of the test's own (no persistence), to stop, restart or lose at will."""
    from tests.integration.sessions.outage import PrivateRedis

    server = PrivateRedis()
    server.start()
    yield server
    server.cleanup()
