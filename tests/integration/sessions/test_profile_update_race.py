"""A role taken away while a login is under way (DESIGN.md: role changes take effect at once for
live sessions): the session that login opens must not carry it, wherever its write lands in the
role change's update of the user's sessions (RedisSessionStore.update_profile), and the user's
sessions opened before keep it no longer either, cached or not.

The race window is the login's argon2 verify (its account row, and so its roles, already read);
the tests hold it open and let the login's session write land at a chosen point of the role
change: just before or just after it reads the user's session index."""
from __future__ import annotations

import asyncio

import pytest

from app.authz.manager import Actor
from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.support.browser import Browser, new_email
from tests.support.nojar import serve_without_cookie_jar

serve = serve_without_cookie_jar  # each request carries only the cookies the test chose


def cheap(make_settings, **sections):
    base = {"password": {"time_cost": 1, "memory_kib": 1024}, "cookie": {"name": "sid", "secure": False}}
    for k, v in sections.items():
        base.setdefault(k, {}).update(v)
    return make_settings(**base)


async def _roles(browser: Browser) -> list[str]:
    reply = await browser.request("GET", "/auth/session")
    assert reply.status == 200, await reply.text()
    return (await reply.json())["user"]["roles"]


@pytest.mark.parametrize("cache_ttl_s", [0, 30])
@pytest.mark.parametrize("lands", ["before_index_read", "after_index_read"])
async def test_a_role_revoked_during_a_login_reaches_neither_its_session_nor_older_ones(
        serve, make_settings, lands, cache_ttl_s):
    client = await serve(cheap(make_settings, session={"cache_ttl_s": cache_ttl_s}))
    services = client.server.app[SERVICES]
    email = new_email()
    older = Browser(client, "sid")
    assert (await older.register(email)).status == 201
    await services.accounts.grant_role_by_email(email, "editor", ClientInfo())
    assert (await older.login(email)).status == 200
    assert await _roles(older) == ["editor"]  # and, with the cache on, cached in this process
    async with services.sessionmaker() as s:
        uid = (await services.users.by_email(s, email)).id

    # The login reads the account (roles: editor), then hashes; the hash finishes only when the
    # role change is at the chosen point.
    hashing, release = asyncio.Event(), asyncio.Event()
    hasher, real_verify = services.hasher, services.hasher.verify

    async def held_verify(encoded, password):
        hashing.set()
        await release.wait()
        return await real_verify(encoded, password)

    hasher.verify = held_verify
    newer = Browser(client, "sid")
    login = asyncio.create_task(newer.login(email))
    store = services.session_store
    real_all, listings = store.all_for_user, []

    async def login_lands_there(user_id):
        listings.append(user_id)
        if lands == "before_index_read":
            release.set()
            await login
        listed = await real_all(user_id)
        if lands == "after_index_read":
            release.set()
            await login
        return listed

    try:
        await asyncio.wait_for(hashing.wait(), 10)
        store.all_for_user = login_lands_there
        roles = await services.authz_admin.set_user_roles(uid, [], Actor(kind="user", id="admin"), mode="set")
    finally:
        store.all_for_user = real_all
        hasher.verify = real_verify
        release.set()
    assert roles == ()
    assert listings == [uid], "the role change no longer reads the index through all_for_user: move the hook"

    reply = await asyncio.wait_for(login, 10)
    assert reply.status == 200, await reply.text()
    # The revocation committed and reached Redis before the login's reply: neither session has it.
    assert await _roles(newer) == []
    assert await _roles(older) == []
    for record in await store.list_for_user(uid):
        assert record.roles == (), record
