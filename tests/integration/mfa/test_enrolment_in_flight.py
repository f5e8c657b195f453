"""An enrolment in flight when the owner acts must not outlive the owner's remedy: a thief
with the password and a session starts confirming MFA with a secret of their own; the owner
changes the password (or ends the other sessions) meanwhile. Letting the confirmation land
would lock the owner out behind the thief's authenticator, and hand the thief a fresh
session after the remedy returned (invariant 1)."""
import asyncio
import json

from app.http.appkeys import SERVICES
from tests.integration.mfa.helpers import code_at, mfa_settings
from tests.support.browser import STRONG_PASSWORD, Browser

NEW = "the owner's brand new passphrase 7"


async def _owner_and_thief(client):
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    thief = Browser(client, "sid")
    assert (await thief.login(email)).status == 200
    setup = await thief.request("POST", "/auth/mfa/totp/setup")
    assert setup.status == 201
    return owner, thief, (await setup.json())["secret"]


async def _confirm_while_owner_acts(client, thief, secret, owner_action):
    services = client.server.app[SERVICES]
    real = services.mfa.confirm_setup

    async def after_the_owner(*args, **kwargs):
        await owner_action()  # lands once the thief's request is past authentication
        return await real(*args, **kwargs)

    services.mfa.confirm_setup = after_the_owner
    try:
        return await thief.request("POST", "/auth/mfa/totp/confirm", json={"code": code_at(secret)})
    finally:
        services.mfa.confirm_setup = real


async def _nothing_of_the_thiefs_landed(reply, owner: Browser, thief: Browser) -> None:
    """The confirmation was refused, the thief holds no session, and the owner is still
    signed in with MFA off."""
    assert reply.status == 401, await reply.text()
    assert (await thief.request("GET", "/auth/session")).status == 401
    status = await owner.request("GET", "/auth/mfa/totp")
    assert status.status == 200 and (await status.json())["enabled"] is False


async def test_a_password_change_beats_an_enrolment_in_flight(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    owner, thief, secret = await _owner_and_thief(client)

    async def owner_changes_password():
        r = await owner.request("POST", "/auth/password", json={"current_password": STRONG_PASSWORD,
                                                                  "new_password": NEW})
        assert r.status == 204, await r.text()

    reply = await _confirm_while_owner_acts(client, thief, secret, owner_changes_password)
    await _nothing_of_the_thiefs_landed(reply, owner, thief)


async def test_ending_the_other_sessions_beats_an_enrolment_in_flight(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    owner, thief, secret = await _owner_and_thief(client)

    async def owner_ends_other_sessions():
        assert (await owner.request("DELETE", "/auth/sessions")).status == 204

    reply = await _confirm_while_owner_acts(client, thief, secret, owner_ends_other_sessions)
    await _nothing_of_the_thiefs_landed(reply, owner, thief)


async def test_a_confirmation_whose_body_comes_after_the_password_change_is_refused(serve, make_settings):
    """The same with no patching: the request is authenticated when its headers arrive and
    its body may come whenever the sender likes."""
    client = await serve(mfa_settings(make_settings))
    owner, thief, secret = await _owner_and_thief(client)
    body = json.dumps({"code": "000000"}).encode()
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write((f"POST /auth/mfa/totp/confirm HTTP/1.1\r\nHost: {client.server.host}:{client.server.port}\r\n"
                  f"Cookie: sid={thief.session_id}\r\nX-CSRF-Token: {thief.csrf}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode())
    await writer.drain()
    await asyncio.sleep(0.3)
    r = await owner.request("POST", "/auth/password", json={"current_password": STRONG_PASSWORD,
                                                              "new_password": NEW})
    assert r.status == 204
    writer.write(json.dumps({"code": code_at(secret)}).encode())
    await writer.drain()
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
    writer.close()
    assert head.split()[1] == "401", head
    status = await owner.request("GET", "/auth/mfa/totp")
    assert status.status == 200 and (await status.json())["enabled"] is False


async def test_enrolment_keeps_the_sessions_login_time_and_deadline(serve, make_settings):
    """A code from a secret made moments ago proves no password: the carried-on session keeps
    the login's auth_time (step-up) and its absolute deadline."""
    client = await serve(mfa_settings(make_settings))
    sessions = client.server.app[SERVICES].sessions
    owner = Browser(client, "sid")
    await owner.signed_up()
    before = await sessions.resolve(owner.session_id)
    await asyncio.sleep(1.1)
    setup = await owner.request("POST", "/auth/mfa/totp/setup")
    confirm = await owner.request("POST", "/auth/mfa/totp/confirm",
                                  json={"code": code_at((await setup.json())["secret"])})
    assert confirm.status == 200
    after = await sessions.resolve(owner.session_id)
    assert after.sid_hash != before.sid_hash
    assert after.auth_time == before.auth_time
    assert after.absolute_expires_at == before.absolute_expires_at
