"""Logins racing a password change: what the old password opened while the change ran
must not outlive it, and a login's hash upgrade must not undo it (API.md: POST
/auth/password "ends every other session and revokes every token of the user").

The race window is a login's argon2 verify (tens of ms, longer under load); the tests
hold it open deterministically until the change has returned."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from argon2 import PasswordHasher, Type

from app.accounts.forced_logout import Actor
from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.integration.sessions.helpers import events, pg_fetch
from tests.integration.tokens.helpers import grant
from tests.support import faults
from tests.support.browser import STRONG_PASSWORD, Browser

NEW_PASSWORD = "an entirely different passphrase 7"


@asynccontextmanager
async def first_call_held(client, method: str):
    """The hasher's first ``method`` call (``verify``: a login's, its account row already read;
    ``hash``: a password change's, its current password already checked) finishes only when
    the yielded event is set; ``entered`` is set once it is in flight. Later calls go through."""
    async with faults.first_call_held(client.server.app[SERVICES].accounts.hasher, method) as held:
        yield held


def first_verify_held(client):
    return first_call_held(client, "verify")


def new_hash_held(client):
    return first_call_held(client, "hash")


async def change_password(browser: Browser):
    return await browser.request("POST", "/auth/password", json={
        "current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD})


async def test_a_login_in_flight_during_a_password_change_opens_nothing_that_lasts(client):
    owner = Browser(client)
    email = await owner.signed_up()
    attacker = Browser(client)
    async with first_verify_held(client) as (entered, release):
        login = asyncio.create_task(attacker.login(email, STRONG_PASSWORD))
        await entered.wait()
        assert (await change_password(owner)).status == 204
        release.set()
        refused = await login
    # Refused outright (no cookie that would fail on first use), as the password now is wrong.
    assert refused.status == 401 and (await refused.json())["code"] == "invalid_credentials"
    assert "Set-Cookie" not in refused.headers
    assert (await attacker.request("GET", "/auth/session")).status == 401
    assert (await owner.request("GET", "/auth/session")).status == 200


async def test_a_role_revoked_while_a_login_hashes_is_not_in_its_session(client):
    from tests.integration.authz.helpers import user

    admin, _ = await user(client, "admin")
    member, member_id = await user(client, "admin")
    email = (await (await member.request("GET", "/auth/session")).json())["user"]["email"]
    late = Browser(client)
    async with first_verify_held(client) as (entered, release):
        login = asyncio.create_task(late.login(email, STRONG_PASSWORD))
        await entered.wait()  # its roles (admin) are read
        assert (await admin.request("DELETE", f"/admin/users/{member_id}/roles/admin")).status == 204
        release.set()
        reply = await login
    assert reply.status == 200
    assert (await reply.json())["user"]["roles"] == []
    assert (await late.request("GET", "/admin/roles")).status == 403
    assert (await (await late.request("GET", "/auth/session")).json())["user"]["roles"] == []


async def test_a_password_grant_in_flight_during_a_password_change_is_refused(client, redis, settings):
    owner = Browser(client)
    email = await owner.signed_up()
    async with first_verify_held(client) as (entered, release):
        pending = asyncio.create_task(grant(client, email))
        await entered.wait()
        assert (await change_password(owner)).status == 204
        before = len(await events(redis, settings.events.stream))
        release.set()
        reply = await pending
    assert reply.status == 400
    assert (await reply.json())["error"] == "invalid_grant"
    # Refused before anything was written: no family, no "issued" in the audit trail.
    assert [e["type"] for e in (await events(redis, settings.events.stream))[before:]] == []


async def test_a_login_rehash_does_not_undo_a_concurrent_password_change(client, database_url):
    owner = Browser(client)
    email = await owner.signed_up()
    # A hash from before a parameter raise (t=1 < the configured t=2): the login upgrades it.
    weaker = PasswordHasher(time_cost=1, memory_cost=19456, parallelism=1, type=Type.ID).hash(STRONG_PASSWORD)
    await pg_fetch(database_url, "UPDATE users SET password_hash = $1 WHERE email = $2", weaker, email)
    async with first_verify_held(client) as (entered, release):
        login = asyncio.create_task(Browser(client).login(email, STRONG_PASSWORD))
        await entered.wait()
        assert (await change_password(owner)).status == 204
        release.set()
        await login
    assert (await Browser(client).login(email, NEW_PASSWORD)).status == 200
    assert (await Browser(client).login(email, STRONG_PASSWORD)).status == 401


async def test_of_two_concurrent_password_changes_one_wins_and_the_other_is_refused(client):
    owner = Browser(client)
    email = await owner.signed_up()
    other_device = Browser(client)
    assert (await other_device.login(email)).status == 200
    async with first_verify_held(client) as (entered, release):
        first = asyncio.create_task(change_password(owner))
        await entered.wait()
        second = await other_device.request("POST", "/auth/password", json={
            "current_password": STRONG_PASSWORD, "new_password": "yet another long passphrase 9"})
        release.set()
        first = await first
    assert second.status == 204
    # Refused: the other change ended the session it was asked with (or its password).
    assert first.status == 401
    assert (await first.json())["code"] in ("unauthenticated", "invalid_credentials")
    assert (await Browser(client).login(email, "yet another long passphrase 9")).status == 200
    assert (await Browser(client).login(email, NEW_PASSWORD)).status == 401


async def test_a_role_revoked_while_a_password_grant_hashes_is_not_in_its_token(client):
    import jwt

    from tests.integration.authz.helpers import user

    admin, _ = await user(client, "admin")
    member, member_id = await user(client, "admin")
    email = (await (await member.request("GET", "/auth/session")).json())["user"]["email"]
    async with first_verify_held(client) as (entered, release):
        pending = asyncio.create_task(grant(client, email))
        await entered.wait()  # its roles (admin) are read
        assert (await admin.request("DELETE", f"/admin/users/{member_id}/roles/admin")).status == 204
        release.set()
        reply = await pending
    assert reply.status == 200
    token = (await reply.json())["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["roles"] == []


async def test_a_login_rehash_during_a_password_change_neither_fails_it_nor_logs_everyone_out(
        client, database_url):
    """A login that upgrades the stored hash (same password, new parameters) while the owner
    changes their password is not a concurrent password change."""
    owner = Browser(client)
    email = await owner.signed_up()
    weaker = PasswordHasher(time_cost=1, memory_cost=19456, parallelism=1, type=Type.ID).hash(STRONG_PASSWORD)
    await pg_fetch(database_url, "UPDATE users SET password_hash = $1 WHERE email = $2", weaker, email)
    async with new_hash_held(client) as (entered, release):
        change = asyncio.create_task(change_password(owner))
        await entered.wait()
        services = client.server.app[SERVICES]
        async with services.accounts.sessionmaker() as session:
            read = await services.accounts.users.by_email(session, email)
        await services.accounts._upgrade_hash(read, STRONG_PASSWORD)  # what a rehashing login does
        release.set()
        changed = await change
    assert changed.status == 204, await changed.text()
    assert (await owner.request("GET", "/auth/session")).status == 200
    assert (await Browser(client).login(email, NEW_PASSWORD)).status == 200


async def test_a_password_change_racing_a_disable_leaves_no_live_session(client):
    """The admin disables the account while its owner (or whoever holds the password)
    changes the password: the disable wins; no session of the disabled account lives on."""
    owner = Browser(client)
    email = await owner.signed_up()
    user_id = (await (await owner.request("GET", "/auth/session")).json())["user"]["id"]
    services = client.server.app[SERVICES]
    admin = Actor(id="admin", client=ClientInfo())
    async with new_hash_held(client) as (entered, release):
        change = asyncio.create_task(change_password(owner))
        await entered.wait()
        await services.forced_logout.disable(user_id, admin)
        release.set()
        changed = await change
    assert changed.status == 401, await changed.text()
    assert (await owner.request("GET", "/auth/session")).status == 401
    # Nor did the change land on the disabled account: re-enabled, it has its old password.
    await services.forced_logout.enable(user_id, admin)
    assert (await Browser(client).login(email, NEW_PASSWORD)).status == 401
    assert (await Browser(client).login(email, STRONG_PASSWORD)).status == 200
