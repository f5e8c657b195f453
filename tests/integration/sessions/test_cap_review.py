"""session.max_per_user, reviewed: which session the cap ends, and that a login which replaces
the browser's own session does not cost the user another one."""
import time
import uuid

import pytest

from app.http.appkeys import SERVICES
from app.sessions.ids import hash_session_id, new_session_id
from app.sessions.manager import ClientInfo
from app.sessions.record import SessionRecord
from tests.integration.sessions.helpers import events
from tests.support.browser import Browser
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


async def test_a_relogin_at_the_cap_ends_the_browsers_own_session_and_no_other(serve, make_settings, redis, settings):
    """A login from a browser that already holds a session of the same user replaces it (login
    rotates the id). At the cap, the new session was written first and the cap ended the user's
    least recently used session (another device) before the replaced one was ended: the user
    lost a live session for nothing."""
    client = await serve(cheap(make_settings, session={"max_per_user": 2, "cache_ttl_s": 0}))
    phone = Browser(client, cookie_name="sid")
    email = await phone.signed_up()
    uid = (await (await phone.request("GET", "/auth/session")).json())["user"]["id"]
    laptop = Browser(client, cookie_name="sid")
    assert (await laptop.login(email)).status == 200
    before = laptop.session_id
    assert (await laptop.login(email)).status == 200  # sends its cookie: ``previous``
    assert laptop.session_id != before
    assert (await phone.request("GET", "/auth/session")).status == 200, "the other device was logged out"
    assert (await laptop.request("GET", "/auth/session")).status == 200
    assert await _limited(redis, settings.events.stream, uid) == []
    ended = [e for e in await events(redis, settings.events.stream)
             if e["type"] == "auth.session.revoked" and e["subject"] == uid]
    assert [e["data"]["reason"] for e in ended] == ["login"]
