"""Worker tests: one real Celery worker per module (its own queue, Redis key prefix
and event stream, so parallel runs never take each other's tasks), the test's
Postgres database, and the real broker (Redis unless a module says RabbitMQ).

The worker runs the prefork pool with 2 processes (like production, and so two
tasks can overlap); tests that SIGKILL a worker start their own with the solo
pool, where the killed pid is the one holding the batch.
"""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis.asyncio as aioredis

from app.settings import Settings
from app.taskqueue import TaskQueue
from tests.conftest import REDIS_URL
from tests.integration.workers.procs import CeleryProcess, env_for

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(scope="module")
def module_prefix() -> str:
    return f"w{uuid.uuid4().hex[:10]}"


@pytest.fixture
def prefix(module_prefix: str) -> str:
    # The module's worker was started with this prefix; every test of the module shares it.
    return module_prefix


@pytest.fixture(scope="module")
def broker_url() -> str:
    return ""  # the Redis URL; a module overrides this fixture for RabbitMQ


@pytest.fixture(scope="module")
def worker_overrides() -> dict:
    """Settings sections the module's worker (and its tests) use; modules override."""
    return {}


@pytest.fixture(scope="module")
def module_settings(database_url: str, module_prefix: str, broker_url: str, worker_overrides: dict) -> Settings:
    base = {
        "database": {"url": database_url},
        "redis": {"url": REDIS_URL, "key_prefix": module_prefix},
        "events": {"stream": f"{module_prefix}:events"},
        "broker": {"url": broker_url},
        "workers": {"queue": f"{module_prefix}-q"},
    }
    for section, values in worker_overrides.items():
        base.setdefault(section, {}).update(values)
    return Settings(**base)


@pytest.fixture
def settings(module_settings: Settings) -> Settings:
    return module_settings


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("celery")


@pytest.fixture(scope="module")
def worker(module_settings: Settings, log_dir):
    proc = CeleryProcess("worker", env_for(module_settings), log_dir, "--pool=prefork", "--concurrency=2")
    proc.wait_ready()
    yield proc
    proc.stop()


@pytest.fixture(scope="module", autouse=True)
def _module_keys(module_prefix: str):
    yield
    async def clean() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(f"{module_prefix}*", count=5000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i:i + 500])
        await client.aclose()
    asyncio.run(clean())


@pytest.fixture
async def redis(prefix: str):
    # Keys stay until the module ends: the module's worker is using them.
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def tasks(module_settings: Settings):
    """The same client the web process uses to enqueue work."""
    queue = TaskQueue(module_settings)
    yield queue
    queue.close()


async def eventually(check, timeout: float = 10.0, interval: float = 0.05):
    """Poll the async ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: last result {result!r}")
        await asyncio.sleep(interval)
