"""Invariant 1 within one second: access tokens are dated in whole seconds, epochs are not.
A token issued after one revocation epoch but within its second must still die at a second
epoch in that same second (a disable sets one before its commit and one after), and must be
usable at once, even with no leeway."""
import asyncio
import time

import jwt

from app.accounts.forced_logout import Actor
from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.integration.tokens.helpers import bearer, grant, new_user, token_settings

ADMIN = Actor("admin", ClientInfo())


async def _start_of_a_second() -> None:
    while time.time() % 1 > 0.05:
        await asyncio.sleep(0.005)


async def test_a_second_forced_logout_in_the_same_second_ends_a_token_issued_after_the_first(
        serve, make_settings):
    client = await serve(token_settings(make_settings))
    services = client.server.app[SERVICES]
    email, user_id = await new_user(client)
    await _start_of_a_second()
    await services.forced_logout.force(user_id, ADMIN)  # epoch E1
    r = await grant(client, email)  # a login after E1, within its second
    assert r.status == 200, await r.text()
    token = (await r.json())["access_token"]
    assert (await client.get("/auth/me", headers=bearer(token))).status == 200
    await services.forced_logout.force(user_id, ADMIN)  # epoch E2 > E1, same second
    claims = jwt.decode(token, options={"verify_signature": False})
    epoch = await services.sessions.store.epoch_of(user_id)
    me = await client.get("/auth/me", headers=bearer(token))
    assert me.status == 401, (await me.text(), claims["iat"], epoch)


async def test_a_login_racing_a_disable_is_refused_once_the_disable_returned(serve, make_settings):
    client = await serve(token_settings(make_settings))
    services = client.server.app[SERVICES]
    email, user_id = await new_user(client)
    sessions = services.forced_logout.sessions
    original = sessions.revoke_everything_before
    issued = {}

    async def first_epoch_then_a_login(uid, epoch, events=()):
        await original(uid, epoch, events)
        if not issued:  # a login whose credentials were read between the first epoch and the commit
            r = await grant(client, email)
            issued["status"], issued["body"] = r.status, await r.json()

    sessions.revoke_everything_before = first_epoch_then_a_login
    try:
        await _start_of_a_second()
        await services.forced_logout.disable(user_id, ADMIN)
    finally:
        sessions.revoke_everything_before = original
    assert issued["status"] == 200, issued
    me = await client.get("/auth/me", headers=bearer(issued["body"]["access_token"]))
    assert me.status == 401, await me.text()


async def test_a_login_right_after_a_forced_logout_is_usable_at_once_without_leeway(serve, make_settings):
    client = await serve(token_settings(make_settings, tokens={"leeway_s": 0}))
    services = client.server.app[SERVICES]
    email, user_id = await new_user(client)
    await _start_of_a_second()
    await services.forced_logout.force(user_id, ADMIN)
    r = await grant(client, email)
    assert r.status == 200, await r.text()
    me = await client.get("/auth/me", headers=bearer((await r.json())["access_token"]))
    assert me.status == 200, await me.text()
