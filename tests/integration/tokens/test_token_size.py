"""The service never issues an access token that it, or the HTTP header limit, refuses: a
user's roles ride in every token, so what an admin may grant is bounded, and an account
that holds more anyway (granted before the bound) gets a clear invalid_grant."""
import uuid

import pytest

from app.authz.names import ROLES_CLAIM_BUDGET, roles_claim_bytes
from app.errors import ValidationError
from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.integration.authz.helpers import user
from tests.integration.sessions.helpers import events
from tests.integration.tokens.helpers import bearer, grant, new_user, token_settings

MANY_LONG_ROLES = tuple(f"dept-{i:03d}-" + "r" * 50 for i in range(200))


async def test_roles_that_would_not_fit_in_a_token_are_refused_and_nothing_changes(serve, make_settings):
    client = await serve(token_settings(make_settings))
    admin, _ = await user(client, "admin")
    _, user_id = await new_user(client)
    roles = [f"r-{uuid.uuid4().hex[:8]}-" + "x" * 50 for _ in range(70)]
    assert roles_claim_bytes(roles) > ROLES_CLAIM_BUDGET
    for role in roles:
        assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    r = await admin.request("PUT", f"/admin/users/{user_id}/roles", json={"roles": roles})
    assert r.status == 422 and (await r.json())["code"] == "invalid_request", await r.text()
    assert (await (await admin.request("GET", f"/admin/users/{user_id}/roles")).json())["roles"] == []
    # One at a time does not get past it either.
    statuses = [(await admin.request("POST", f"/admin/users/{user_id}/roles", json={"role": role})).status
                for role in roles]
    assert statuses.count(422) > 0 and set(statuses) == {200, 422}
    held = (await (await admin.request("GET", f"/admin/users/{user_id}/roles")).json())["roles"]
    assert roles_claim_bytes(held) <= ROLES_CLAIM_BUDGET


async def test_an_account_holding_more_roles_than_fit_gets_invalid_grant_not_an_unusable_token(
        serve, make_settings, redis):
    settings = token_settings(make_settings)
    client = await serve(settings)
    email, user_id = await new_user(client, roles=MANY_LONG_ROLES)  # straight into the database
    r = await grant(client, email)
    body = await r.json()
    assert r.status == 400 and body["error"] == "invalid_grant", (r.status, body)
    assert "roles" in body["error_description"]
    # Refused before anything was written: no refresh family, no login told to the audit trail.
    store = client.server.app[SERVICES].tokens.store
    assert not await redis.exists(store.user_index(user_id))
    mine = [e["type"] for e in await events(redis, settings.events.stream) if e["subject"] == user_id]
    assert "auth.login.succeeded" not in mine and "auth.token.issued" not in mine, mine


async def test_a_user_at_the_roles_budget_gets_a_usable_token(serve, make_settings):
    client = await serve(token_settings(make_settings))
    roles, size = [], 0
    while size + 64 + 3 <= ROLES_CLAIM_BUDGET:
        roles.append(f"{len(roles):04d}" + "r" * 60)
        size += 67
    email, user_id = await new_user(client, roles=tuple(roles))
    r = await grant(client, email)
    assert r.status == 200, await r.text()
    me = await client.get("/auth/me", headers=bearer((await r.json())["access_token"]))
    assert me.status == 200 and len((await me.json())["roles"]) == len(roles)


async def test_the_cli_grant_stops_at_the_budget_too(serve, make_settings):
    client = await serve(token_settings(make_settings))
    accounts = client.server.app[SERVICES].accounts
    email, user_id = await new_user(client)
    granted = []
    with pytest.raises(ValidationError):
        for i in range(100):
            role = f"{i:03d}-" + "g" * 60
            await accounts.grant_role_by_email(email, role, ClientInfo())
            granted.append(role)
    async with accounts.sessionmaker() as session:
        held = (await accounts.users.by_id(session, user_id)).roles
    assert sorted(held) == sorted(granted) and roles_claim_bytes(held) <= ROLES_CLAIM_BUDGET
