"""session.max_per_user, reviewed: which session the cap ends."""
import time
import uuid

import pytest

from app.http.appkeys import SERVICES
from app.sessions.ids import hash_session_id, new_session_id
from app.sessions.manager import ClientInfo
from app.sessions.record import SessionRecord
from tests.integration.sessions.helpers import events
from tests.support.nojar import NoJarServers


@pytest.fixture
async def serve():
    servers = NoJarServers()
    yield servers
    await servers.close()


def cheap(make_settings, **sections):
    base = {"password": {"time_cost": 1, "memory_kib": 1024},
            "cookie": {"name": "sid", "secure": False}}
    for k, v in sections.items():
        base.setdefault(k, {}).update(v)
    return make_settings(**base)


async def _limited(redis, stream: str, uid: str) -> list[dict]:
    return [e for e in await events(redis, stream)
            if e["type"] == "auth.session.revoked" and e["subject"] == uid and e["data"]["reason"] == "session_limit"]


def _record(uid: str, *, created: float, seen: float, absolute: float) -> SessionRecord:
    return SessionRecord(sid_hash=hash_session_id(new_session_id()), user_id=uid, email="a@example.com", roles=(),
                         created_at=created, last_seen_at=seen, absolute_expires_at=absolute, idle_timeout_s=1800,
                         auth_time=created, ip="192.0.2.1", user_agent="review")


async def test_the_cap_ends_the_least_recently_used_not_the_one_nearest_its_absolute_deadline(
        serve, make_settings, redis, settings):
    """Least recently used is the earliest idle deadline (last seen + idle timeout). A session in
    use a few seconds ago, 10 minutes from its absolute deadline, was ended in place of one idle
    for 18 minutes, because the candidates were ordered by min(absolute, idle) deadline."""
    client = await serve(cheap(make_settings, session={"max_per_user": 2}))
    services = client.server.app[SERVICES]
    store = services.session_store
    uid, now = str(uuid.uuid4()), time.time()
    idle = _record(uid, created=now - 1200, seen=now - 1100, absolute=now + 40000)  # idle until now + 700
    busy = _record(uid, created=now - 42600, seen=now - 5, absolute=now + 600)  # used 5 s ago
    for record in (idle, busy):
        await store.create(record, [])
    started = await services.sessions.start(user_id=uid, email="a@example.com", roles=(), client=ClientInfo())
    listed = {r.sid_hash for r in await services.sessions.list(uid)}
    assert listed == {started.record.sid_hash, busy.sid_hash}, "the idle session must be the one ended"
    assert [e["data"]["handle"] for e in await _limited(redis, settings.events.stream, uid)] == [idle.handle]
