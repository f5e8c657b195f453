"""Sweeps run by a real worker (and by beat, where the schedule is the point),
on sessions whose timeouts were set to one second."""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from app.services import build_services
from app.sessions.manager import ClientInfo
from app.sessions.sweep import SessionSweeper
from app.taskqueue import REVOCATION_SWEEP, SESSION_SWEEP
from tests.integration.workers.conftest import eventually
from tests.integration.workers.helpers import audit_rows
from tests.integration.workers.procs import CeleryProcess, env_for

SWEEP_BATCH = 10


@pytest.fixture(scope="module")
def worker_overrides() -> dict:
    # Small batches so a sweep of a few dozen sessions takes several Lua calls (and two
    # overlapping sweeps really interleave).
    return {"workers": {"sweep_batch_size": SWEEP_BATCH}, "session": {"idle_timeout_s": 1}}


@pytest.fixture
async def services(settings):
    services = build_services(settings)
    yield services
    await services.close()


async def _sessions(services, users: int, per_user: int) -> dict[str, str]:
    """Start sessions; returns {sid_hash: user_id}."""
    started = {}
    for _ in range(users):
        user_id = str(uuid.uuid4())
        for _ in range(per_user):
            s = await services.sessions.start(user_id=user_id, email="sweep@example.com", roles=(),
                                              client=ClientInfo(ip="192.0.2.1", user_agent="test"))
            started[s.record.sid_hash] = user_id
    return started


async def _expired_events(redis, stream: str) -> list[dict]:
    envelopes = [json.loads(f["event"]) for _, f in await redis.xrange(stream)]
    return [e for e in envelopes if e["type"] == "auth.session.expired"]


async def _swept(redis, services, sessions: dict[str, str]) -> bool:
    keys = services.session_store.keys
    for sid_hash, user_id in sessions.items():
        if await redis.exists(keys.session(sid_hash)):
            return False
        if await redis.zscore(keys.user_index(user_id), sid_hash) is not None:
            return False
    return True


async def test_sweep_ends_expired_sessions_and_reports_each_once(worker, settings, services, redis, tasks):
    expired = await _sessions(services, users=3, per_user=5)
    # Past the one-second idle timeout, and the whole second the index rounds deadlines up to.
    await asyncio.sleep(2.1)
    fresh = await _sessions(services, users=1, per_user=2)
    await tasks.send(SESSION_SWEEP, {})
    await eventually(lambda: _swept(redis, services, expired))

    events = {e["data"]["handle"]: e for e in await _expired_events(redis, settings.events.stream)}
    for sid_hash, user_id in expired.items():
        event = events[sid_hash[:16]]
        assert event["subject"] == user_id
    keys = services.session_store.keys
    for sid_hash, user_id in fresh.items():  # not due: untouched
        assert await redis.zscore(keys.user_index(user_id), sid_hash) is not None
        assert sid_hash[:16] not in events


async def test_overlapping_sweeps_report_each_session_once(worker, settings, services, redis, tasks):
    before = len(await _expired_events(redis, settings.events.stream))
    expired = await _sessions(services, users=10, per_user=10)
    await asyncio.sleep(2.1)
    # Two sweeps at once on the worker's two processes, each taking batches of 10.
    await asyncio.gather(tasks.send(SESSION_SWEEP, {}), tasks.send(SESSION_SWEEP, {}))
    await eventually(lambda: _swept(redis, services, expired))
    await asyncio.sleep(0.3)  # let the slower sweep finish too
    events = (await _expired_events(redis, settings.events.stream))[before:]
    handles = [e["data"]["handle"] for e in events]
    assert len(handles) == len(set(handles))  # none twice
    assert {sh[:16] for sh in expired} <= set(handles)  # none missing


async def test_sweeper_takes_bounded_batches(settings, services):
    """Each Lua call handles at most batch_size sessions, so Redis is never held long."""
    await _sessions(services, users=1, per_user=23)
    await asyncio.sleep(2.1)
    calls = []
    real = services.session_store.sweep_expired

    async def counting(now, limit):
        seen, ended = await real(now, limit)
        calls.append((limit, seen))
        return seen, ended

    services.session_store.sweep_expired = counting
    report = await SessionSweeper(store=services.session_store, batch_size=7).sweep(budget_s=5)
    assert report.ended >= 23
    assert all(limit == 7 and seen <= 7 for limit, seen in calls)
    assert len(calls) == report.batches >= 4


async def test_revocation_sweep_task_runs(worker, tasks):
    """It calls services.tokens.sweep_revocations(now) when the token service exists, and
    succeeds without one."""
    task_id = await tasks.send(REVOCATION_SWEEP, {})
    await eventually(lambda: _succeeded(worker, task_id))


async def _succeeded(proc, task_id: str) -> bool:
    log = proc.log()
    assert f"{task_id}] raised" not in log, log
    return f"{task_id}] succeeded" in log


async def test_beat_schedule_drives_the_sweep_and_the_audit_drain(worker, settings, services, redis,
                                                                 database_url, log_dir, tmp_path):
    """No task is sent by hand: beat's one-second sweep and half-second drain do it all."""
    expired = await _sessions(services, users=2, per_user=3)
    env = env_for(settings, AUTH_WORKERS__SESSION_SWEEP_INTERVAL_S=1, AUTH_WORKERS__AUDIT_DRAIN_INTERVAL_S=0.5)
    beat = CeleryProcess("beat", env, log_dir, f"--schedule={tmp_path / 'beat-schedule'}").wait_ready()
    try:
        await eventually(lambda: _swept(redis, services, expired), timeout=15)
        handles = {sh[:16] for sh in expired}
        ids = [e["id"] for e in await _expired_events(redis, settings.events.stream)
               if e["data"]["handle"] in handles]
        assert len(ids) == len(handles)
        rows = await eventually(lambda: _all_rows(database_url, ids), timeout=15)
        assert {r["type"] for r in rows.values()} == {"auth.session.expired"}
    finally:
        beat.stop()
    assert "Scheduler: Sending due task session-expiry-sweep" in beat.log()


async def _all_rows(database_url, ids):
    rows = await audit_rows(database_url, ids)
    return rows if len(rows) == len(ids) else None
