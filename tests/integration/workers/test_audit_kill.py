"""SIGKILL a worker in the middle of an audit batch, twice: once before its commit,
once between its commit and its XACK. A fresh worker then finishes the job, and
audit_log holds every event exactly once."""
from __future__ import annotations

import asyncio
import itertools

import asyncpg
import pytest

from app.events.envelope import Event
from tests.integration.sessions.helpers import pg_dsn, pg_fetch
from tests.integration.workers.conftest import eventually
from tests.integration.workers.helpers import audit_caught_up, group_state
from tests.integration.workers.procs import CeleryProcess, env_for
from tests.integration.workers.test_audit import DESIGN_TYPES

EVENTS = 300
BATCH = 50


@pytest.fixture(scope="module")
def worker_overrides() -> dict:
    return {"workers": {"batch_size": BATCH, "audit_reclaim_idle_s": 1.0}}


async def _row_count(database_url: str, ids: list[str]) -> int:
    return (await pg_fetch(database_url, "SELECT count(*) AS n FROM audit_log WHERE event_id = ANY($1::text[])",
                           ids))[0]["n"]


async def test_sigkill_mid_batch_loses_and_duplicates_nothing(settings, redis, tasks, database_url, log_dir):
    from app.taskqueue import AUDIT_DRAIN

    stream, group = settings.events.stream, settings.events.audit_group
    types = itertools.cycle(sorted(DESIGN_TYPES))
    events = [Event(next(types), f"user-{i}", {"n": i}) for i in range(EVENTS)]
    async with redis.pipeline(transaction=False) as pipe:
        for e in events:
            pipe.xadd(stream, {"event": e.to_json(settings.events.source)})
        await pipe.execute()
    ids = [e.id for e in events]

    # 1. Killed before commit: the INSERT waits on a lock this test holds.
    lock = await asyncpg.connect(pg_dsn(database_url))
    tx = lock.transaction()
    await tx.start()
    await lock.execute("LOCK TABLE audit_log IN SHARE MODE")
    first = CeleryProcess("worker", env_for(settings), log_dir, "--pool=solo").wait_ready()
    try:
        await tasks.send(AUDIT_DRAIN, {})
        await eventually(lambda: _pending(redis, stream, group, at_least=BATCH))
        await asyncio.sleep(0.2)  # into the INSERT, which blocks on the lock
    finally:
        first.kill()
        await tx.rollback()
        await lock.close()
    assert await _row_count(database_url, ids) == 0
    assert (await group_state(redis, stream, group))["pending"] == BATCH

    # 2. Killed between commit and XACK: the test hook holds the worker there.
    second = CeleryProcess("worker", env_for(settings, AUTH_WORKERS__AUDIT_PAUSE_AFTER_COMMIT_S=60), log_dir,
                           "--pool=solo").wait_ready()
    try:
        await tasks.send(AUDIT_DRAIN, {})
        await eventually(lambda: _rows_at_least(database_url, ids, BATCH))
    finally:
        second.kill()
    committed = await _row_count(database_url, ids)
    assert committed == BATCH
    assert (await group_state(redis, stream, group))["pending"] >= BATCH  # committed, never acknowledged

    # 3. A healthy worker reclaims both abandoned batches and drains the rest.
    third = CeleryProcess("worker", env_for(settings), log_dir, "--pool=solo").wait_ready()
    try:
        await audit_caught_up(tasks, redis, settings, timeout=30)
    finally:
        third.stop()
    rows = await pg_fetch(database_url, "SELECT event_id, type, subject FROM audit_log "
                                        "WHERE event_id = ANY($1::text[])", ids)
    assert len(rows) == EVENTS
    assert {r["event_id"] for r in rows} == set(ids)
    assert {(r["event_id"], r["type"], r["subject"]) for r in rows} == {(e.id, e.type, e.subject) for e in events}
    assert "reclaimed" in third.log()


async def _pending(redis, stream, group, at_least):
    g = await group_state(redis, stream, group)
    return g is not None and g["pending"] >= at_least


async def _rows_at_least(database_url, ids, n):
    return await _row_count(database_url, ids) >= n
