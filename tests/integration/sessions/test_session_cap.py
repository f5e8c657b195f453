"""session.max_per_user: a user holds at most that many sessions; a login past it ends their
least recently used, each reported (auth.session.revoked, reason session_limit) and dropped
from every process's cache, in the same step that writes the new session."""
import time
import uuid

import pytest

from app.events.envelope import Event
from app.http.appkeys import SERVICES
from app.sessions.ids import hash_session_id, new_session_id
from app.sessions.manager import ClientInfo
from app.sessions.record import SessionRecord
from app.sessions.store import TRIM_BATCH
from tests.integration.sessions.helpers import events
from tests.support.browser import Browser, rejected_within
from tests.support.nojar import serve_without_cookie_jar


serve = serve_without_cookie_jar  # each request carries only the cookies the test chose


def cheap(make_settings, **sections):
    base = {"password": {"time_cost": 1, "memory_kib": 1024},
            "cookie": {"name": "sid", "secure": False}}
    for k, v in sections.items():
        base.setdefault(k, {}).update(v)
    return make_settings(**base)


async def _limited(redis, stream: str, uid: str) -> list[dict]:
    return [e for e in await events(redis, stream)
            if e["type"] == "auth.session.revoked" and e["subject"] == uid and e["data"]["reason"] == "session_limit"]


def test_the_cap_is_positive_and_defaults_to_100():
    from pydantic import ValidationError

    from app.settings import SessionSettings

    assert SessionSettings().max_per_user == 100
    with pytest.raises(ValidationError):
        SessionSettings(max_per_user=0)  # there is no "unlimited"


async def test_max_per_user_caps_the_sessions_of_one_user(serve, make_settings):
    """session.max_per_user is a declared setting: a user's live sessions must not exceed it."""
    client = await serve(cheap(make_settings, session={"max_per_user": 2}))
    first = Browser(client, cookie_name="sid")
    email = await first.signed_up()
    others = []
    for _ in range(3):
        b = Browser(client, cookie_name="sid")
        assert (await b.login(email)).status == 200
        others.append(b)
    listed = (await (await others[-1].request("GET", "/auth/sessions")).json())["sessions"]
    assert len(listed) <= 2, f"{len(listed)} live sessions with session.max_per_user=2"


async def test_the_least_recently_used_sessions_end_each_with_its_event(serve, make_settings, redis, settings):
    client = await serve(cheap(make_settings, session={"max_per_user": 2, "cache_ttl_s": 0}))
    browsers = [Browser(client, cookie_name="sid")]
    email = await browsers[0].signed_up()
    uid = (await (await browsers[0].request("GET", "/auth/session")).json())["user"]["id"]
    handles = [(await (await browsers[0].request("GET", "/auth/sessions")).json())["sessions"][0]["handle"]]
    for _ in range(3):
        b = Browser(client, cookie_name="sid")
        reply = await b.request("POST", "/auth/login", json={"email": email, "password": "correct horse battery staple 42"},
                                headers={"User-Agent": "Cap/1.0"})
        assert reply.status == 200
        handles.append((await reply.json())["session"]["handle"])
        browsers.append(b)
    # The two oldest ended, the two newest live.
    assert [(await b.request("GET", "/auth/session")).status for b in browsers] == [401, 401, 200, 200]
    listed = (await (await browsers[-1].request("GET", "/auth/sessions")).json())["sessions"]
    assert sorted(s["handle"] for s in listed) == sorted(handles[2:])
    ended = await _limited(redis, settings.events.stream, uid)
    assert sorted(e["data"]["handle"] for e in ended) == sorted(handles[:2])
    for e in ended:
        uuid.UUID(e["id"])
        assert e["source"] == "authsvc" and e["data"]["user_agent"] == "Cap/1.0"
        assert set(e) == {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"}
    assert len({e["id"] for e in ended}) == 2
    store = client.server.app[SERVICES].session_store
    assert await redis.zcard(store.keys.user_index(uid)) == 2


async def test_a_session_the_cap_ends_leaves_every_cache_at_once(serve, make_settings):
    settings = cheap(make_settings, session={"max_per_user": 1, "cache_ttl_s": 30})
    a, b = await serve(settings), await serve(settings)
    await a.server.app[SERVICES].bus.connected.wait()
    await b.server.app[SERVICES].bus.connected.wait()
    old = Browser(b, cookie_name="sid")
    email = await old.signed_up()
    for _ in range(3):  # cached on b
        assert (await old.request("GET", "/auth/session")).status == 200
    assert b.server.app[SERVICES].sessions.cache._entries, "the other process must have it cached"
    new = Browser(a, cookie_name="sid")
    assert (await new.login(email)).status == 200
    assert await rejected_within(old, 0.1) < 0.1  # invariant 1
    assert (await new.request("GET", "/auth/session")).status == 200


async def test_sessions_a_forced_logout_ended_neither_count_nor_are_ended_again(serve, make_settings, redis, settings):
    from app.accounts.forced_logout import Actor

    client = await serve(cheap(make_settings, session={"max_per_user": 2}))
    services = client.server.app[SERVICES]
    first = Browser(client, cookie_name="sid")
    email = await first.signed_up()
    second = Browser(client, cookie_name="sid")
    assert (await second.login(email)).status == 200
    uid = (await (await first.request("GET", "/auth/session")).json())["user"]["id"]
    try:
        await services.forced_logout.force(uid, Actor("admin", ClientInfo()))
    except Exception:
        pass  # no worker: the fan-out stays queued
    fresh = [Browser(client, cookie_name="sid") for _ in range(2)]
    for b in fresh:
        assert (await b.login(email)).status == 200
    assert [(await b.request("GET", "/auth/session")).status for b in fresh] == [200, 200]
    assert await _limited(redis, settings.events.stream, uid) == []  # the dead two are the fan-out's
    epoch = await services.session_store.epoch_of(uid)
    assert (await services.forced_logout.fan_out(uid, epoch, "admin")).sessions_ended == 2


async def test_sessions_from_before_the_cap_are_ended_down_to_it_in_batches(serve, make_settings, redis, settings):
    """A lowered cap, or sessions written before it was enforced: the next login ends the excess,
    a script of TRIM_BATCH at a time, keeping the newest and the new one."""
    client = await serve(cheap(make_settings, session={"max_per_user": 3}))
    services = client.server.app[SERVICES]
    store = services.session_store
    uid, now = str(uuid.uuid4()), time.time()
    n = 2 * TRIM_BATCH + 50
    from app.sessions.ids import hash_session_id, new_session_id
    from app.sessions.record import SessionRecord

    old = []
    for i in range(n):  # written straight to the store, without the cap; the later ones seen later
        seen = now - n + i
        record = SessionRecord(sid_hash=hash_session_id(new_session_id()), user_id=uid, email="a@example.com",
                               roles=(), created_at=seen, last_seen_at=seen, absolute_expires_at=seen + 3600,
                               idle_timeout_s=1800, auth_time=seen, ip="192.0.2.1", user_agent="old")
        await store.create(record, [])
        old.append(record)
    started = await services.sessions.start(user_id=uid, email="a@example.com", roles=(), client=ClientInfo())
    listed = await services.sessions.list(uid)
    assert {r.sid_hash for r in listed} == {started.record.sid_hash, old[-1].sid_hash, old[-2].sid_hash}
    assert await redis.zcard(store.keys.user_index(uid)) == 3
    assert len(await _limited(redis, settings.events.stream, uid)) == n - 2
    # Under the cap a session costs no ending at all.
    before = await redis.xlen(settings.events.stream)
    await store.revoke(uid, {old[-1].sid_hash: Event("auth.session.revoked", uid, {"reason": "test"})})
    await services.sessions.start(user_id=uid, email="a@example.com", roles=(), client=ClientInfo())
    assert await redis.xlen(settings.events.stream) == before + 2  # the revoke's and session.created


def _record(uid: str, *, created: float, seen: float, absolute: float) -> SessionRecord:
    return SessionRecord(sid_hash=hash_session_id(new_session_id()), user_id=uid, email="a@example.com", roles=(),
                         created_at=created, last_seen_at=seen, absolute_expires_at=absolute, idle_timeout_s=1800,
                         auth_time=created, ip="192.0.2.1", user_agent="test")


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
