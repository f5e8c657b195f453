"""Invariant 4: a session that times out gets its auth.session.expired event even when
the user logs in again, or ends their other sessions, before the sweep runs. The sweep
finds expired sessions only through the user's index, so nothing else may drop an
entry it has not reported."""
import asyncio
import time
import uuid

from app.events.envelope import Event
from app.events.publisher import EventPublisher
from app.http.appkeys import SERVICES
from app.services import make_redis
from app.sessions.ids import hash_session_id, new_session_id
from app.sessions.record import SessionRecord
from app.sessions.store import RedisSessionStore
from tests.integration.sessions.helpers import events
from tests.support.browser import Browser


def _store(settings) -> RedisSessionStore:
    redis = make_redis(settings)
    publisher = EventPublisher(redis=redis, stream=settings.events.stream, source="test")
    return RedisSessionStore(redis=redis, publisher=publisher, prefix=settings.redis.key_prefix,
                             touch_granularity_s=0.0)


def _record(user_id: str, *, now: float, idle_s: int) -> SessionRecord:
    return SessionRecord(sid_hash=hash_session_id(new_session_id()), user_id=user_id, email="a@example.com",
                         roles=(), created_at=now, last_seen_at=now, absolute_expires_at=now + 3600,
                         idle_timeout_s=idle_s, auth_time=now, ip="192.0.2.1", user_agent="ua")


async def _expired_handles(redis, settings) -> list[str]:
    return [e["data"]["handle"] for e in await events(redis, settings.events.stream)
            if e["type"] == "auth.session.expired"]


async def test_a_new_login_leaves_a_timed_out_session_to_the_sweep(settings, redis):
    store, uid = _store(settings), str(uuid.uuid4())
    old = _record(uid, now=time.time() - 100, idle_s=10)  # timed out 90 s ago, its key gone
    await store.create(old, [])
    new = _record(uid, now=time.time(), idle_s=1800)
    await store.create(new, [])
    assert [r.sid_hash for r in await store.list_for_user(uid)] == [new.sid_hash]
    assert await store.sweep_expired(time.time(), 100) == (1, 1)
    assert await _expired_handles(redis, settings) == [old.handle]
    assert await redis.zrange(store.keys.user_index(uid), 0, -1) == [new.sid_hash]
    await store.redis.aclose()


async def test_ending_a_session_whose_key_is_gone_leaves_it_to_the_sweep(settings, redis):
    store, uid = _store(settings), str(uuid.uuid4())
    old = _record(uid, now=time.time() - 100, idle_s=10)
    await store.create(old, [])
    assert await store.revoke(uid, {old.sid_hash: Event("auth.session.revoked", uid, {})}) == 0
    assert await store.sweep_expired(time.time(), 100) == (1, 1)
    assert [e["type"] for e in await events(redis, settings.events.stream)] == ["auth.session.expired"]
    await store.redis.aclose()


async def test_relogin_and_ending_other_sessions_after_a_timeout_over_http(serve, make_settings, redis):
    settings = make_settings(session={"idle_timeout_s": 1, "absolute_timeout_s": 60})
    client = await serve(settings)
    first = Browser(client)
    email = await first.signed_up()
    handle = (await (await first.request("GET", "/auth/session")).json())["session"]["handle"]
    await asyncio.sleep(2.2)  # the session times out, unreported so far
    again = Browser(client)
    assert (await again.login(email)).status == 200
    listed = await (await again.request("GET", "/auth/sessions")).json()
    assert handle not in [s["handle"] for s in listed["sessions"]]
    assert (await again.request("DELETE", "/auth/sessions")).status == 204
    await client.server.app[SERVICES].session_store.sweep_expired(time.time(), 100)
    # (The new session, idle for 1 s too, may have ended by now as well.)
    assert (await _expired_handles(redis, settings)).count(handle) == 1


async def test_a_sweep_that_runs_long_after_the_absolute_deadline_still_reports_it(settings, redis):
    """A worker restart or a backlog may delay the sweep by minutes: the user's index (the
    only way the sweep finds a session) must outlive the last absolute deadline by far more
    than one sweep interval, or the session expires unreported."""
    store, uid = _store(settings), str(uuid.uuid4())
    now = time.time()
    late = SessionRecord(sid_hash=hash_session_id(new_session_id()), user_id=uid, email="a@example.com",
                         roles=(), created_at=now - 4000, last_seen_at=now - 400,
                         absolute_expires_at=now - 400,  # timed out for good 400 s ago
                         idle_timeout_s=1800, auth_time=now - 4000, ip="192.0.2.1", user_agent="ua")
    await store.create(late, [])
    assert await store.sweep_expired(time.time(), 100) == (1, 1)
    assert await _expired_handles(redis, settings) == [late.handle]
    await store.redis.aclose()
