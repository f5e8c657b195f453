"""Header bytes that are not UTF-8 reach the app as lone surrogates (aiohttp decodes
headers with 'surrogateescape'). Invariant 5: no route answers 500 for them; a CSRF
token made of them is simply wrong, and a user agent or forwarded address made of
them is recorded as text."""
import asyncio
import json

import pytest

from tests.integration.sessions.helpers import events
from tests.support.browser import STRONG_PASSWORD, Browser

NEW_PASSWORD = "an entirely different passphrase 7"
BAD_UA = b"Mozilla/5.0 \xff\xfe"
BAD_UA_TEXT = "Mozilla/5.0 ??"


async def _raw(client, method: str, path: str, headers: dict[str, bytes], body: dict | None = None):
    """One request on a raw socket: the test client would refuse or re-encode these bytes."""
    payload = json.dumps(body).encode() if body is not None else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: {client.host}:{client.port}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n").encode()
    head += b"".join(k.encode() + b": " + v + b"\r\n" for k, v in headers.items())
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(head + b"\r\n" + payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)  # Connection: close ends the reply
    writer.close()
    top, _, reply = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    reply_headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
    return int(lines[0].split()[1]), reply_headers, reply


def _session_headers(browser: Browser, **extra: bytes) -> dict[str, bytes]:
    return {"Cookie": f"__Host-id={browser.session_id}".encode(), "X-CSRF-Token": browser.csrf.encode(),
            **extra}


async def test_a_csrf_token_of_non_utf8_bytes_is_403_and_changes_nothing(client):
    browser = Browser(client)
    await browser.signed_up()
    status, headers, body = await _raw(client, "POST", "/auth/logout",
                                       _session_headers(browser, **{"X-CSRF-Token": b"\xff" * 43}))
    assert status == 403, body[:200]
    assert headers["content-type"].startswith("application/problem+json")
    assert json.loads(body)["code"] == "csrf_failed"
    assert (await browser.request("GET", "/auth/session")).status == 200


async def test_a_non_utf8_user_agent_at_login_is_recorded_as_text(client, settings, redis):
    browser = Browser(client)
    email = await browser.signed_up()
    status, headers, body = await _raw(client, "POST", "/auth/login", {"User-Agent": BAD_UA},
                                       {"email": email, "password": STRONG_PASSWORD})
    assert status == 200, body[:200]
    listed = await (await browser.request("GET", "/auth/sessions")).json()
    assert BAD_UA_TEXT in [s["user_agent"] for s in listed["sessions"]]
    logins = [e for e in await events(redis, settings.events.stream) if e["type"] == "auth.login.succeeded"]
    assert logins[-1]["data"]["user_agent"] == BAD_UA_TEXT


@pytest.mark.parametrize("path,body,status", [
    ("/auth/password", {"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD}, 204),
    ("/auth/reauthenticate", {"password": STRONG_PASSWORD}, 200),
])
async def test_a_non_utf8_user_agent_on_session_routes_is_not_500(client, path, body, status):
    browser = Browser(client)
    await browser.signed_up()
    got, _, reply = await _raw(client, "POST", path, _session_headers(browser, **{"User-Agent": BAD_UA}), body)
    assert got == status, reply[:200]


async def test_garbage_forwarded_for_from_a_trusted_proxy_is_not_500(serve, make_settings):
    client = await serve(make_settings(http={"trusted_proxies": "127.0.0.1"}))
    browser = Browser(client)
    email = await browser.signed_up()
    status, _, body = await _raw(client, "POST", "/auth/login", {"X-Forwarded-For": b"\xff\xfe"},
                                 {"email": email, "password": STRONG_PASSWORD})
    assert status == 200, body[:200]
    listed = await (await browser.request("GET", "/auth/sessions")).json()
    assert "??" in [s["ip"] for s in listed["sessions"]]
