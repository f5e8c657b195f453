"""Ending all of a user's sessions (DELETE /auth/sessions, a password change) must not hold
Redis for everyone else for as long as that user has sessions: it is cut into short scripts,
and still ends every one of them, each with its event, before the call returns."""
import asyncio
import json
import threading
import time
from contextlib import asynccontextmanager

from redis import Redis as SyncRedis

from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.conftest import REDIS_URL
from tests.support.browser import STRONG_PASSWORD, Browser
from tests.support.nojar import serve_without_cookie_jar

N = 20_000  # what N logins of one account would leave (written directly: no hashing needed)

serve = serve_without_cookie_jar  # each request carries only the cookies the test chose


async def _many_sessions(serve, make_settings):
    # A cap above N: what is measured is ending N sessions, not the cap keeping them few.
    client = await serve(make_settings(password={"time_cost": 1, "memory_kib": 1024},
                                       cookie={"name": "sid", "secure": False},
                                       session={"max_per_user": 2 * N}))
    browser = Browser(client, cookie_name="sid")
    await browser.signed_up()
    me = (await (await browser.request("GET", "/auth/session")).json())["user"]
    sessions = client.server.app[SERVICES].sessions
    sem = asyncio.Semaphore(64)

    async def one():
        async with sem:
            await sessions.start(user_id=me["id"], email=me["email"], roles=(), client=ClientInfo("192.0.2.9", "x"))

    await asyncio.gather(*(one() for _ in range(N)))
    return client, browser, me["id"]


@asynccontextmanager
async def _worst_ping():
    """The longest PING a bystander waits while the block runs: ``worst[0]`` (s). The bystander
    is a thread with a client of its own, so it measures Redis, not this process's event loop
    (which also runs the app, and its invalidation bus handling one message per session)."""
    worst = [0.0]
    done = threading.Event()

    def ping() -> None:
        client = SyncRedis.from_url(REDIS_URL)
        try:
            while not done.is_set():
                t = time.perf_counter()
                client.ping()
                worst[0] = max(worst[0], time.perf_counter() - t)
                time.sleep(0.001)
        finally:
            client.close()

    pinger = threading.Thread(target=ping, daemon=True)
    pinger.start()
    await asyncio.sleep(0.05)
    try:
        yield worst
    finally:
        done.set()
        await asyncio.to_thread(pinger.join)


async def _revoked(redis, stream: str, uid: str, reason: str) -> int:
    n = 0
    for _, fields in await redis.xrange(stream):
        event = json.loads(fields["event"])
        if event["type"] == "auth.session.revoked" and event["subject"] == uid and event["data"]["reason"] == reason:
            n += 1
    return n


async def test_ending_other_sessions_does_not_stall_redis_for_everyone(serve, make_settings, redis, settings):
    client, browser, uid = await _many_sessions(serve, make_settings)
    async with _worst_ping() as worst:
        reply = await browser.request("DELETE", "/auth/sessions")
    assert reply.status == 204
    assert worst[0] < 0.1, f"a PING waited {worst[0] * 1000:.0f} ms behind one user's DELETE /auth/sessions"
    store = client.server.app[SERVICES].session_store
    assert await redis.zcard(store.keys.user_index(uid)) == 1  # every other one ended before the reply
    assert (await browser.request("GET", "/auth/session")).status == 200
    assert await _revoked(redis, settings.events.stream, uid, "user") == N


async def test_a_password_change_with_many_sessions_does_not_stall_redis_for_everyone(
        serve, make_settings, redis, settings):
    client, browser, uid = await _many_sessions(serve, make_settings)
    async with _worst_ping() as worst:
        reply = await browser.request("POST", "/auth/password", json={
            "current_password": STRONG_PASSWORD, "new_password": "a different long passphrase 77"})
    assert reply.status == 204, await reply.text()
    assert worst[0] < 0.1, f"a PING waited {worst[0] * 1000:.0f} ms behind one user's password change"
    store = client.server.app[SERVICES].session_store
    assert await redis.zcard(store.keys.user_index(uid)) == 1  # only the fresh session the change opened
    assert await _revoked(redis, settings.events.stream, uid, "password_changed") == N + 1
