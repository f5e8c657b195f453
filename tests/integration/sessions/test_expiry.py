"""Idle (sliding) and absolute timeouts, enforced from timestamps kept server side."""
import asyncio

from app.sessions.ids import hash_session_id

from tests.support.browser import Browser


async def _status_code(browser: Browser) -> tuple[int, str | None]:
    reply = await browser.request("GET", "/auth/session")
    if reply.status == 200:
        return 200, None
    assert reply.content_type == "application/problem+json"
    return reply.status, (await reply.json())["code"]


async def test_idle_timeout_ends_a_quiet_session(serve, make_settings):
    client = await serve(make_settings(session={"idle_timeout_s": 1, "absolute_timeout_s": 60}))
    browser = Browser(client)
    await browser.signed_up()
    assert (await _status_code(browser))[0] == 200
    await asyncio.sleep(1.3)
    status, code = await _status_code(browser)
    assert status == 401 and code in ("session_expired", "unauthenticated")


async def test_idle_timeout_slides_with_activity(serve, make_settings):
    client = await serve(make_settings(session={"idle_timeout_s": 1, "absolute_timeout_s": 60}))
    browser = Browser(client)
    await browser.signed_up()
    # Active for 3 idle periods: every request moves the deadline.
    for _ in range(10):
        await asyncio.sleep(0.3)
        assert (await _status_code(browser))[0] == 200


async def test_absolute_timeout_ends_even_an_active_session(serve, make_settings):
    # Idle may not exceed absolute; requests every 0.2 s keep the idle deadline away anyway.
    client = await serve(make_settings(session={"idle_timeout_s": 2, "absolute_timeout_s": 2}))
    browser = Browser(client)
    await browser.signed_up()
    deadline = asyncio.get_running_loop().time() + 4
    while asyncio.get_running_loop().time() < deadline:
        status, code = await _status_code(browser)
        if status == 401:
            assert code in ("session_expired", "unauthenticated")
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("session outlived its absolute timeout")


async def test_timeouts_come_from_stored_timestamps_not_key_ttl(serve, make_settings, redis, prefix):
    # Even if the Redis key were to survive (no TTL), the stored timestamps decide.
    client = await serve(make_settings(session={"idle_timeout_s": 2, "absolute_timeout_s": 60,
                                                "cache_ttl_s": 0}))
    browser = Browser(client)
    await browser.signed_up()
    key = f"{prefix}:s:{hash_session_id(browser.session_id)}"
    assert await redis.persist(key)
    await asyncio.sleep(2.3)
    assert await redis.exists(key) == 1
    status, code = await _status_code(browser)
    assert (status, code) == (401, "session_expired")
    assert await redis.exists(key) == 0  # expiry destroys the server-side state


async def test_reply_reports_both_deadlines(serve, make_settings):
    client = await serve(make_settings(session={"idle_timeout_s": 600, "absolute_timeout_s": 3600}))
    browser = Browser(client)
    await browser.signed_up()
    from datetime import datetime
    body = await (await browser.request("GET", "/auth/session")).json()
    idle = datetime.fromisoformat(body["session"]["idle_expires_at"].replace("Z", "+00:00"))
    absolute = datetime.fromisoformat(body["session"]["expires_at"].replace("Z", "+00:00"))
    assert 3000 <= (absolute - idle).total_seconds() <= 3002
