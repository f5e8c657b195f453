"""The session cookie on the wire: flags, id shape, uniqueness, the CSRF token."""
import asyncio
import base64

from tests.integration.sessions.helpers import cookie_attributes, set_cookie_headers
from tests.support.browser import STRONG_PASSWORD, Browser, new_email


async def test_login_sets_host_cookie_with_safe_flags(client):
    browser = Browser(client)
    email = new_email()
    assert (await browser.register(email)).status == 201
    reply = await browser.login(email)
    assert reply.status == 200
    [header] = set_cookie_headers(reply)
    value, attrs = cookie_attributes(header)
    assert attrs.get("path") == "/"
    assert "secure" in attrs and "httponly" in attrs
    assert attrs.get("samesite") == "Lax"
    # __Host- forbids Domain; the server enforces lifetime, so no Max-Age/Expires.
    assert "domain" not in attrs and "max-age" not in attrs and "expires" not in attrs
    assert len(value) == 43 and len(base64.urlsafe_b64decode(value + "=")) == 32
    body = await reply.json()
    assert set(body) == {"user", "session", "csrf_token"}
    assert body["csrf_token"] and body["csrf_token"] != value
    assert set(body["session"]) == {"handle", "expires_at", "idle_expires_at"}
    assert body["user"]["email"] == email and body["user"]["roles"] == []
    assert reply.headers["Cache-Control"] == "no-store"
    me = await browser.request("GET", "/auth/session")
    assert me.status == 200 and not set_cookie_headers(me)
    assert (await me.json())["csrf_token"] == body["csrf_token"]


async def test_logout_clears_the_cookie(client):
    browser = Browser(client)
    await browser.signed_up()
    reply = await browser.request("POST", "/auth/logout")
    assert reply.status == 204
    [header] = set_cookie_headers(reply)
    value, attrs = cookie_attributes(header)
    assert value in ("", '""') and attrs.get("max-age") == "0"
    assert "secure" in attrs and "httponly" in attrs and attrs.get("path") == "/"


async def test_ids_are_unique_over_many_logins(serve, make_settings):
    # Cheap argon2 here: this test is about ids, not hashing cost.
    client = await serve(make_settings(password={"time_cost": 1, "memory_kib": 1024, "hash_threads": 4}))
    email = new_email()
    assert (await Browser(client).register(email)).status == 201
    gate = asyncio.Semaphore(16)

    async def login() -> tuple[str, str]:
        async with gate:
            reply = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
            assert reply.status == 200
            [header] = set_cookie_headers(reply)
            return cookie_attributes(header)[0], (await reply.json())["csrf_token"]

    results = await asyncio.gather(*(login() for _ in range(200)))
    ids = [sid for sid, _ in results]
    assert len(set(ids)) == 200
    assert len({token for _, token in results}) == 200
    assert all(len(sid) == 43 for sid in ids)
    # 200 random 256-bit ids: every character position varies.
    assert all(len({sid[i] for sid in ids}) > 20 for i in range(42))
