"""Invariant 4: every state change is in the stream as a CloudEvents envelope by the
time the call returns (written with the change, not later)."""
import uuid
from datetime import datetime

from tests.integration.sessions.helpers import events
from tests.support.browser import STRONG_PASSWORD, Browser

ENVELOPE = {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"}
SECRET_KEYS = {"password", "session_id", "sid", "token", "csrf_token", "cookie", "secret"}


def _check_envelope(event: dict) -> None:
    assert set(event) == ENVELOPE
    assert event["specversion"] == "1.0" and event["datacontenttype"] == "application/json"
    uuid.UUID(event["id"]) if not event["id"].startswith("session-expired-") else None
    assert event["source"] == "authsvc" and event["type"].startswith("auth.")
    datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    assert not SECRET_KEYS & set(event["data"])


async def _types_for(redis, stream: str, subject: str) -> list[str]:
    return [e["type"] for e in await events(redis, stream) if e["subject"] == subject]


async def test_each_change_appends_its_event(client, redis, settings):
    stream = settings.events.stream
    browser = Browser(client)
    from tests.support.browser import new_email
    email = new_email()
    reply = await browser.register(email)
    uid = (await reply.json())["id"]
    assert await _types_for(redis, stream, uid) == ["auth.user.registered"]

    assert (await client.post("/auth/login", json={"email": email, "password": "a wrong password here"})).status == 401
    assert await _types_for(redis, stream, uid) == ["auth.user.registered", "auth.login.failed"]

    assert (await browser.login(email)).status == 200
    assert (await _types_for(redis, stream, uid))[2:] == ["auth.login.succeeded", "auth.session.created"]

    other = Browser(client)
    await other.login(email)
    handle = (await (await other.request("GET", "/auth/session")).json())["session"]["handle"]
    n = len(await _types_for(redis, stream, uid))
    assert (await browser.request("DELETE", f"/auth/sessions/{handle}")).status == 204
    revoked = [e for e in await events(redis, stream) if e["subject"] == uid][n:]
    assert [e["type"] for e in revoked] == ["auth.session.revoked"]
    assert revoked[0]["data"]["handle"] == handle

    n = len(await _types_for(redis, stream, uid))
    assert (await browser.request("POST", "/auth/password", json={
        "current_password": STRONG_PASSWORD, "new_password": "yet another long passphrase"})).status == 204
    after = (await _types_for(redis, stream, uid))[n:]
    assert after[0] == "auth.password.changed"
    assert "auth.session.revoked" in after and after[-1] == "auth.session.created"

    # The rotated session has its own CSRF token; the client reads it from /auth/session.
    browser.csrf = (await (await browser.request("GET", "/auth/session")).json())["csrf_token"]
    n = len(await _types_for(redis, stream, uid))
    assert (await browser.request("POST", "/auth/logout")).status == 204
    assert (await _types_for(redis, stream, uid))[n:] == ["auth.logout"]

    for event in await events(redis, stream):
        _check_envelope(event)


async def test_events_say_who_and_from_where(client, redis, settings):
    browser = Browser(client)
    await browser.request("POST", "/auth/register", json={"email": "x-" + uuid.uuid4().hex + "@example.com",
                                                          "password": STRONG_PASSWORD})
    email = await browser.signed_up()
    login = [e for e in await events(redis, settings.events.stream) if e["type"] == "auth.login.succeeded"][-1]
    assert login["data"]["ip"] == "127.0.0.1" and "user_agent" in login["data"]
    assert email not in str(login)  # personal data stays out of the login event
    assert login["subject"] == (await (await browser.request("GET", "/auth/session")).json())["user"]["id"]


async def test_failed_login_for_unknown_email_is_recorded_without_the_email(client, redis, settings):
    email = "nobody-" + uuid.uuid4().hex + "@example.com"
    assert (await client.post("/auth/login", json={"email": email, "password": "whatever it is 123"})).status == 401
    failed = [e for e in await events(redis, settings.events.stream) if e["type"] == "auth.login.failed"]
    assert len(failed) == 1 and failed[0]["data"]["reason"] == "invalid_credentials"
    assert email not in str(failed[0]) and "whatever it is 123" not in str(failed[0])
