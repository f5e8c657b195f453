"""Admin routes taking a user id accept other spellings of its UUID (upper case, no hyphens,
urn:uuid:) and act on the user's canonical id: Redis keys and events match only that.
(Braces never reach a handler: aiohttp's default path segment excludes them.)"""
import base64
import json
import uuid

import pytest

from tests.integration.authz.helpers import user
from tests.integration.tokens.helpers import refresh, tokens_for

SPELLINGS = {
    "upper": str.upper,
    "hex": lambda s: uuid.UUID(s).hex,
    "urn": lambda s: uuid.UUID(s).urn,
}


def _roles_claim(access_token: str) -> list:
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("roles", [])


async def _subjects(redis, settings, type_):
    entries = await redis.xrange(settings.events.stream)
    return [e["subject"] for e in (json.loads(f["event"]) for _, f in entries) if e["type"] == type_]


@pytest.mark.parametrize("spell", SPELLINGS.values(), ids=SPELLINGS.keys())
async def test_forced_logout_by_any_spelling_ends_the_users_sessions(client, settings, redis, spell):
    admin, _ = await user(client, "admin")
    victim, victim_id = await user(client)
    assert (await victim.request("GET", "/auth/session")).status == 200
    assert (await admin.request("POST", f"/admin/users/{spell(victim_id)}/logout")).status == 202
    assert (await victim.request("GET", "/auth/session")).status == 401
    assert victim_id in await _subjects(redis, settings, "auth.user.forced_logout")


async def test_disable_by_another_spelling_ends_the_users_sessions(client):
    admin, _ = await user(client, "admin")
    victim, victim_id = await user(client)
    assert (await admin.request("POST", f"/admin/users/{victim_id.upper()}/disable")).status == 202
    assert (await victim.request("GET", "/auth/session")).status == 401


async def test_role_revocation_by_another_spelling_reaches_live_sessions(client, settings, redis):
    admin, _ = await user(client, "admin")
    member, member_id = await user(client, "admin")
    assert (await member.request("GET", "/admin/roles")).status == 200
    assert (await admin.request("DELETE", f"/admin/users/{member_id.upper()}/roles/admin")).status == 204
    assert (await member.request("GET", "/admin/roles")).status == 403
    assert (await (await member.request("GET", "/auth/session")).json())["user"]["roles"] == []
    reply = await (await admin.request("GET", f"/admin/users/{uuid.UUID(member_id).hex}/roles")).json()
    assert reply["user_id"] == member_id and reply["roles"] == []
    assert member_id in await _subjects(redis, settings, "auth.role.changed")


async def test_role_revocation_by_another_spelling_reaches_the_next_refresh(client):
    admin, _ = await user(client, "admin")
    reply, member_id = await tokens_for(client, ("admin",))
    r = await refresh(client, reply["refresh_token"])  # this refresh remembers the roles in Redis
    assert r.status == 200
    reply = await r.json()
    assert "admin" in _roles_claim(reply["access_token"])
    assert (await admin.request("DELETE", f"/admin/users/{member_id.upper()}/roles/admin")).status == 204
    r = await refresh(client, reply["refresh_token"])
    assert r.status == 200
    assert "admin" not in _roles_claim((await r.json())["access_token"])


@pytest.mark.parametrize("method,path", [
    ("POST", "/admin/users/{}/logout"), ("POST", "/admin/users/{}/disable"), ("POST", "/admin/users/{}/enable"),
    ("GET", "/admin/users/{}/roles"), ("DELETE", "/admin/users/{}/roles/admin")])
async def test_a_path_id_that_is_no_uuid_is_not_found(client, method, path):
    admin, _ = await user(client, "admin")
    r = await admin.request(method, path.format("not-a-uuid"))
    assert r.status == 404 and r.content_type == "application/problem+json"
