"""Invariant 1 with in-process caches: a revocation on one web process is seen
by every other process within 100 ms, even when they have the session cached."""
import time

from app.events.envelope import Event
from app.http.appkeys import SERVICES
from tests.support.browser import Browser, rejected_within


async def _warm(browser: Browser) -> None:
    for _ in range(3):
        assert (await browser.request("GET", "/auth/session")).status == 200


async def test_logout_on_one_process_rejected_by_cached_other(serve, settings):
    a, b = await serve(settings), await serve(settings)
    on_a = Browser(a)
    await on_a.signed_up()
    on_b = Browser(b)
    on_b.session_id, on_b.csrf = on_a.session_id, on_a.csrf
    await _warm(on_b)
    cache = b.server.app[SERVICES].sessions.cache
    assert cache is not None and cache.get(
        next(iter(cache._entries)), time.time()) is not None, "the other process must have it cached"
    assert (await on_a.request("POST", "/auth/logout")).status == 204
    assert await rejected_within(on_b, 0.1) < 0.1


async def test_password_change_epoch_reaches_cached_process(serve, settings):
    a, b = await serve(settings), await serve(settings)
    first = Browser(a)
    email = await first.signed_up()
    second = Browser(b)
    assert (await second.login(email)).status == 200
    await _warm(second)
    reply = await first.request("POST", "/auth/password", json={
        "current_password": "correct horse battery staple 42",
        "new_password": "an entirely different passphrase 7"})
    assert reply.status == 204
    assert await rejected_within(second, 0.1) < 0.1


async def test_cache_not_trusted_while_pubsub_link_is_down(serve, settings):
    client = await serve(settings)
    services = client.server.app[SERVICES]
    browser = Browser(client)
    await browser.signed_up()
    await _warm(browser)
    assert services.sessions.cache._entries
    await services.bus.stop()  # the link is gone: nothing may be served from memory
    assert not services.bus.trusted
    assert not services.sessions.cache._entries
    # With the cache distrusted every check reads Redis, so a revocation made
    # directly in Redis (as another process would) is seen at once.
    user_id = (await (await browser.request("GET", "/auth/session")).json())["user"]["id"]
    [record] = await services.sessions.list(user_id)
    await services.session_store.revoke(user_id, {record.sid_hash: Event("auth.session.revoked", user_id, {})})
    assert (await browser.request("GET", "/auth/session")).status == 401


async def test_sessions_ended_in_one_sweep_call_leave_every_cache(serve, settings):
    """The sweep announces a whole call's worth of ended sessions in one message;
    each of them must still leave a process that has it cached."""
    client = await serve(settings)
    services = client.server.app[SERVICES]
    await services.bus.connected.wait()
    browsers = [Browser(client) for _ in range(3)]
    for browser in browsers:
        await browser.signed_up()
        await _warm(browser)
    assert len(services.sessions.cache._entries) == 3
    # Far past every deadline as Redis sees it; the process's cache still holds them live.
    looked, ended = await services.session_store.sweep_expired(time.time() + 10**7, 100)
    assert (looked, ended) == (3, 3)
    for browser in browsers:
        assert await rejected_within(browser, 0.1) < 0.1


async def test_ending_other_sessions_reaches_each_of_them_cached_elsewhere(serve, settings):
    """DELETE /auth/sessions ends several sessions at once; each leaves the other process's cache."""
    a, b = await serve(settings), await serve(settings)
    await b.server.app[SERVICES].bus.connected.wait()
    main = Browser(a)
    email = await main.signed_up()
    others = [Browser(b) for _ in range(3)]
    for other in others:
        assert (await other.login(email)).status == 200
        await _warm(other)
    assert len(b.server.app[SERVICES].sessions.cache._entries) == 3
    assert (await main.request("DELETE", "/auth/sessions")).status == 204
    for other in others:
        assert await rejected_within(other, 0.1) < 0.1
    assert (await main.request("GET", "/auth/session")).status == 200
