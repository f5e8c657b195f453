"""DESIGN: "logout and expiry destroy server-side state; the cookie is cleared". A browser
presenting a session cookie that is dead (expired, ended, never ours) is told to drop it,
whatever the route answers; a login over a dead cookie sets the new one, not a clearing."""
import asyncio

from tests.support.browser import STRONG_PASSWORD, Browser

CHEAP = {"password": {"time_cost": 1, "memory_kib": 1024}, "cookie": {"name": "sid", "secure": False}}


def _set_cookies(reply, name="sid") -> list[str]:
    return [h for h in reply.headers.getall("Set-Cookie", []) if h.startswith(f"{name}=")]


def _clears(header: str) -> bool:
    return header.startswith("sid=;") or 'sid="";' in header or "Max-Age=0" in header


async def test_an_expired_session_reply_clears_the_cookie(serve, make_settings):
    client = await serve(make_settings(**CHEAP, session={"idle_timeout_s": 1, "absolute_timeout_s": 60,
                                                         "cache_ttl_s": 0}))
    browser = Browser(client, cookie_name="sid")
    await browser.signed_up()
    await asyncio.sleep(1.3)
    reply = await client.get("/auth/session", headers={"Cookie": f"sid={browser.session_id}"})
    assert reply.status == 401 and (await reply.json())["code"] in ("session_expired", "unauthenticated")
    cleared = _set_cookies(reply)
    assert cleared and all(_clears(h) for h in cleared), reply.headers.getall("Set-Cookie", [])


async def test_an_unknown_cookie_is_cleared_on_any_route(serve, make_settings):
    client = await serve(make_settings(**CHEAP))
    made_up = "A" * 43
    for path in ("/auth/session", "/auth/me", "/healthz"):
        reply = await client.get(path, headers={"Cookie": f"sid={made_up}"})
        cleared = _set_cookies(reply)
        assert cleared and all(_clears(h) for h in cleared), (path, reply.status)


async def test_a_login_over_a_dead_cookie_sets_the_new_one(serve, make_settings):
    client = await serve(make_settings(**CHEAP))
    email = await Browser(client, cookie_name="sid").signed_up()
    reply = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD},
                              headers={"Cookie": "sid=" + "A" * 43})
    assert reply.status == 200
    [header] = _set_cookies(reply)
    assert not _clears(header)
    fresh = header.split(";", 1)[0].split("=", 1)[1]
    assert (await client.get("/auth/session", headers={"Cookie": f"sid={fresh}"})).status == 200


async def test_a_live_cookie_is_left_alone(serve, make_settings):
    client = await serve(make_settings(**CHEAP))
    browser = Browser(client, cookie_name="sid")
    await browser.signed_up()
    reply = await client.get("/auth/session", headers={"Cookie": f"sid={browser.session_id}"})
    assert reply.status == 200 and not _set_cookies(reply)
