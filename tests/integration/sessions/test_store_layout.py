"""The compact Redis layout keeps what users see intact: long user agents,
listing, the sweep's due list."""
import json
import time
import uuid

from app.clock import rfc3339
from app.events.publisher import EventPublisher
from app.sessions.ids import hash_session_id, new_session_id
from app.sessions.record import SessionRecord
from app.sessions.store import RedisSessionStore
from app.services import make_redis

LONG_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Safari/537.36 Édition")


def _store(settings) -> RedisSessionStore:
    redis = make_redis(settings)
    publisher = EventPublisher(redis=redis, stream=settings.events.stream, source="test")
    return RedisSessionStore(redis=redis, publisher=publisher, prefix=settings.redis.key_prefix,
                             touch_granularity_s=0.0)


def _record(user_id: str, *, now: float, idle_s: int = 600, ua: str = LONG_UA) -> SessionRecord:
    return SessionRecord(sid_hash=hash_session_id(new_session_id()), user_id=user_id, email="a@example.com",
                         roles=("admin", "ops"), created_at=now, last_seen_at=now,
                         absolute_expires_at=now + 3600, idle_timeout_s=idle_s, auth_time=now,
                         ip="2001:db8::1", user_agent=ua)


async def test_long_user_agents_survive_and_are_stored_once(settings, redis):
    store, uid, now = _store(settings), str(uuid.uuid4()), time.time()
    first, second = _record(uid, now=now), _record(uid, now=now)
    await store.create(first, [])
    await store.create(second, [])
    listed = await store.list_for_user(uid)
    assert {r.sid_hash for r in listed} == {first.sid_hash, second.sid_hash}
    assert all(r.user_agent == LONG_UA and r.roles == ("admin", "ops") and r.ip == "2001:db8::1" for r in listed)
    raw = await redis.execute_command("GET", store.keys.session(first.sid_hash), NEVER_DECODE=True)
    assert LONG_UA.encode() not in raw  # interned: the value names it
    lookup = await store.read(first.sid_hash, now + 1)
    assert lookup.status == "ok" and lookup.record.user_agent == LONG_UA
    await store.redis.aclose()


async def test_a_touch_moves_the_index_and_the_sweep_skips_live_sessions(settings, redis):
    store, uid, now = _store(settings), str(uuid.uuid4()), time.time()
    record = _record(uid, now=now, idle_s=10)
    await store.create(record, [])
    index = store.keys.user_index(uid)
    before = await redis.zscore(index, record.sid_hash)
    assert (await store.read(record.sid_hash, now + 8)).status == "ok"  # slides the idle deadline
    after = await redis.zscore(index, record.sid_hash)
    assert after >= before + 7
    # The user was due at the first deadline; the sweep finds the session alive and moves them on.
    assert await store.sweep_expired(now + 12, 100) == (1, 0)
    assert await redis.zscore(store.keys.due, uid) == after
    assert await store.sweep_expired(now + 12, 100) == (0, 0)  # nothing due now: no busy loop
    looked, ended = await store.sweep_expired(now + 30, 100)
    assert (looked, ended) == (1, 1)
    assert await redis.zscore(store.keys.due, uid) is None and await redis.exists(index) == 0
    await store.redis.aclose()


async def test_the_sweep_reports_each_expired_session_with_a_whole_envelope(settings, redis):
    store, now = _store(settings), time.time()
    users = [str(uuid.uuid4()) for _ in range(2)]
    records = [_record(uid, now=now, idle_s=10) for uid in users for _ in range(2)]
    for record in records:
        await store.create(record, [])
    swept_at = now + 30
    assert await store.sweep_expired(swept_at, 100) == (4, 4)
    envelopes = [json.loads(f["event"]) for _, f in await redis.xrange(settings.events.stream)]
    assert sorted(envelopes, key=lambda e: e["id"]) == sorted((
        {"specversion": "1.0", "id": f"session-expired-{r.sid_hash}", "source": "test",
         "type": "auth.session.expired", "time": rfc3339(swept_at), "subject": r.user_id,
         "datacontenttype": "application/json", "data": {"handle": r.sid_hash[:16]}}
        for r in records), key=lambda e: e["id"])
    await store.redis.aclose()


async def test_a_sweep_ends_more_of_one_users_sessions_than_lua_can_unpack_at_once(settings, redis):
    """The sweep deletes a user's ended sessions in bulk, flushed every 500: a batch
    larger than that must neither fail nor leave any behind."""
    store, uid, now = _store(settings), str(uuid.uuid4()), time.time()
    records = [_record(uid, now=now, idle_s=10) for _ in range(8200)]
    for record in records:
        await store.create(record, [])
    assert await store.sweep_expired(now + 30, 10_000) == (8200, 8200)
    assert await redis.exists(*(store.keys.session(r.sid_hash) for r in records)) == 0
    assert await redis.exists(store.keys.user_index(uid)) == 0
    assert await redis.xlen(settings.events.stream) == 8200
    await store.redis.aclose()
