"""Refresh tokens: rotation, reuse detection, the grace window, families, storage."""
import asyncio
import json

from app.http.appkeys import SERVICES
from tests.integration.sessions.helpers import dump_prefix, events
from tests.integration.tokens.helpers import bearer, new_user, refresh, token_settings, tokens_for


async def test_refresh_rotates_the_refresh_token_and_issues_a_new_access_token(serve, make_settings):
    client = await serve(token_settings(make_settings, tokens={"refresh_grace_s": 0}))
    first, user_id = await tokens_for(client)
    response = await refresh(client, first["refresh_token"])
    assert response.status == 200
    second = await response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert (await client.get("/auth/sessions", headers=bearer(second["access_token"]))).status == 200
    third = await refresh(client, second["refresh_token"])
    assert third.status == 200


async def test_reusing_a_spent_refresh_token_revokes_the_whole_family(serve, make_settings, redis, settings):
    settings = token_settings(make_settings, tokens={"refresh_grace_s": 0})
    client = await serve(settings)
    first, user_id = await tokens_for(client)
    second = await (await refresh(client, first["refresh_token"])).json()
    # The thief (or the victim) comes back with the spent token.
    reuse = await refresh(client, first["refresh_token"])
    assert reuse.status == 400 and (await reuse.json())["error"] == "invalid_grant"
    # The family is dead: the legitimate successor fails too, and so do its access tokens.
    assert (await refresh(client, second["refresh_token"])).status == 400
    for access in (first["access_token"], second["access_token"]):
        denied = await client.get("/auth/sessions", headers=bearer(access))
        assert denied.status == 401
    types = [e["type"] for e in await events(redis, settings.events.stream)]
    assert "auth.token.reuse_detected" in types
    detected = next(e for e in await events(redis, settings.events.stream)
                    if e["type"] == "auth.token.reuse_detected")
    assert detected["subject"] == user_id and detected["data"]["family"]


async def test_two_parallel_refreshes_within_the_grace_window_get_the_same_successor(serve, make_settings):
    client = await serve(token_settings(make_settings, tokens={"refresh_grace_s": 10}))
    first, _ = await tokens_for(client)
    a, b = await asyncio.gather(refresh(client, first["refresh_token"]), refresh(client, first["refresh_token"]))
    assert a.status == 200 and b.status == 200
    body_a, body_b = await a.json(), await b.json()
    assert body_a["refresh_token"] == body_b["refresh_token"]
    # Both tabs got working access tokens, and the shared successor keeps working.
    for body in (body_a, body_b):
        assert (await client.get("/auth/sessions", headers=bearer(body["access_token"]))).status == 200
    assert (await refresh(client, body_a["refresh_token"])).status == 200


async def test_a_late_tab_gets_the_current_token_even_after_further_rotations(serve, make_settings):
    client = await serve(token_settings(make_settings, tokens={"refresh_grace_s": 10}))
    first, _ = await tokens_for(client)
    second = await (await refresh(client, first["refresh_token"])).json()
    third = await (await refresh(client, second["refresh_token"])).json()
    late = await refresh(client, first["refresh_token"])
    assert late.status == 200
    assert (await late.json())["refresh_token"] == third["refresh_token"]


async def test_without_grace_a_parallel_refresh_is_reuse(serve, make_settings):
    client = await serve(token_settings(make_settings, tokens={"refresh_grace_s": 0}))
    first, _ = await tokens_for(client)
    a, b = await asyncio.gather(refresh(client, first["refresh_token"]), refresh(client, first["refresh_token"]))
    assert sorted([a.status, b.status]) == [200, 400]
    winner = await (a if a.status == 200 else b).json()
    assert (await refresh(client, winner["refresh_token"])).status == 400  # the family ended


async def test_grace_expires(serve, make_settings):
    client = await serve(token_settings(make_settings, tokens={"refresh_grace_s": 0.3}))
    first, _ = await tokens_for(client)
    assert (await refresh(client, first["refresh_token"])).status == 200
    await asyncio.sleep(0.5)
    assert (await refresh(client, first["refresh_token"])).status == 400


async def test_family_has_an_absolute_lifetime(serve, make_settings):
    client = await serve(token_settings(make_settings, tokens={"refresh_family_ttl_s": 2}))
    first, _ = await tokens_for(client)
    second = await (await refresh(client, first["refresh_token"])).json()
    await asyncio.sleep(2.2)
    late = await refresh(client, second["refresh_token"])
    assert late.status == 400 and (await late.json())["error"] == "invalid_grant"


async def test_refresh_tokens_are_stored_only_hashed(serve, make_settings, redis, prefix):
    client = await serve(token_settings(make_settings, tokens={"refresh_grace_s": 10}))
    first, _ = await tokens_for(client)
    second = await (await refresh(client, first["refresh_token"])).json()
    dump = await dump_prefix(redis, prefix)
    for secret in (first["refresh_token"], second["refresh_token"], first["access_token"],
                   second["access_token"]):
        assert secret not in dump
    stream = json.dumps(await events(redis, f"{prefix}:events"))
    assert first["refresh_token"] not in stream and second["refresh_token"] not in stream


async def test_refresh_reads_roles_afresh_and_refuses_disabled_accounts(serve, make_settings):
    import jwt

    from app.accounts.forced_logout import Actor
    from app.authz.manager import Actor as AuthzActor
    from app.sessions.manager import ClientInfo
    from tests.integration.tokens.helpers import grant

    client = await serve(token_settings(make_settings))
    email, user_id = await new_user(client)
    body = await (await grant(client, email)).json()
    services = client.server.app[SERVICES]

    def roles(reply: dict) -> list[str]:
        return jwt.decode(reply["access_token"], options={"verify_signature": False})["roles"]

    await services.accounts.grant_role_by_email(email, "editor", ClientInfo())
    body = await (await refresh(client, body["refresh_token"])).json()
    assert roles(body) == ["editor"]
    # The roles are now kept in Redis for the next refreshes; a change must still reach them.
    body = await (await refresh(client, body["refresh_token"])).json()
    assert roles(body) == ["editor"]
    await services.authz_admin.set_user_roles(user_id, ["editor"], AuthzActor("user", user_id), mode="remove")
    body = await (await refresh(client, body["refresh_token"])).json()
    assert roles(body) == []
    await services.accounts.grant_role_by_email(email, "viewer", ClientInfo())
    body = await (await refresh(client, body["refresh_token"])).json()
    assert roles(body) == ["viewer"]
    await services.forced_logout.disable(user_id, Actor(user_id, ClientInfo()))
    assert (await refresh(client, body["refresh_token"])).status == 400


async def test_roles_read_before_a_change_are_not_kept_over_it(serve, make_settings, redis):
    """A refresh that read Postgres before a role change committed must not write its
    stale roles back over the change (compare-and-set on the version it read)."""
    client = await serve(token_settings(make_settings))
    email, user_id = await new_user(client)
    services = client.server.app[SERVICES]
    store = services.tokens.store
    await store.remember_roles(user_id, "", ("user",), 60)
    version = await redis.hget(store.user_roles(user_id), "v")
    assert version == "0"
    # A role change commits and invalidates; then the slow refresh tries to write back.
    await services.session_store.update_profile(user_id, email=email, roles=("user", "editor"))
    assert not await store.remember_roles(user_id, version, ("user",), 60)
    assert await redis.hget(store.user_roles(user_id), "r") is None
    # With no version at all (nothing was kept when the refresh read), the change's mark wins too.
    assert not await store.remember_roles(user_id, "", ("user",), 60)


async def test_token_events_are_emitted(serve, make_settings, redis):
    settings = token_settings(make_settings)
    client = await serve(settings)
    first, user_id = await tokens_for(client)
    second = await (await refresh(client, first["refresh_token"])).json()
    assert (await client.post("/auth/revoke", json={"token": second["refresh_token"]})).status == 200
    mine = [e for e in await events(redis, settings.events.stream) if e["subject"] == user_id]
    types = [e["type"] for e in mine]
    for wanted in ("auth.token.issued", "auth.token.refreshed", "auth.token.revoked"):
        assert wanted in types
    issued = next(e for e in mine if e["type"] == "auth.token.issued")
    assert issued["data"]["grant_type"] == "password" and issued["data"]["jti"]
    for event in mine:
        assert first["refresh_token"] not in json.dumps(event)


UUID_SHAPE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
HOSTILE_AGENT = 'probe "subject":null "family":null {"x":1}'


async def test_each_refresh_outcome_emits_its_events_with_user_family_and_context(serve, make_settings, redis,
                                                                                   prefix):
    """The refresh script fills in one envelope on the hot path and makes the rare outcomes'
    events from it: each must still name the user, the family and the caller, with its own id,
    and a user agent that looks like the placeholders must not be mistaken for them."""
    import re
    import time

    settings = token_settings(make_settings, tokens={"refresh_grace_s": 10})
    client = await serve(settings)
    first, user_id = await tokens_for(client)
    agent = {"User-Agent": HOSTILE_AGENT}

    async def post(token: str):
        return await client.post("/auth/token", headers=agent,
                                 json={"grant_type": "refresh_token", "refresh_token": token})

    second = await (await post(first["refresh_token"])).json()
    assert (await post(first["refresh_token"])).status == 200  # a sibling tab, inside the grace window
    mine = [e for e in await events(redis, settings.events.stream) if e["subject"] == user_id]
    rotated, grace = [e for e in mine if e["type"] == "auth.token.refreshed"]
    family = rotated["data"]["family"]
    assert family and rotated["data"]["user_agent"] == HOSTILE_AGENT and "reason" not in rotated["data"]
    assert rotated["data"]["grant_type"] == "refresh_token" and rotated["data"]["jti"]
    assert grace["data"]["reason"] == "grace" and grace["data"]["family"] == family
    assert grace["data"]["user_agent"] == HOSTILE_AGENT and grace["id"] != rotated["id"]

    # Reuse outside the window (the spent token's record backdated past it): the family ends
    # with a reuse event and a revocation event.
    await redis.hset(f"{prefix}:rt:" + hash_of(first["refresh_token"]), "spent", "0")
    assert (await post(first["refresh_token"])).status == 400
    mine = [e for e in await events(redis, settings.events.stream) if e["subject"] == user_id]
    detected = next(e for e in mine if e["type"] == "auth.token.reuse_detected")
    revoked = next(e for e in mine if e["type"] == "auth.token.revoked")
    for event in (detected, revoked):
        assert event["data"]["family"] == family and event["data"]["user_agent"] == HOSTILE_AGENT
        assert "jti" not in event["data"] and "grant_type" not in event["data"]
        assert re.match(UUID_SHAPE, event["id"])
    assert revoked["data"]["reason"] == "reuse_detected" and "reason" not in detected["data"]
    assert len({e["id"] for e in mine}) == len(mine)

    # A moved revocation epoch ends another family at its next refresh, with its own event.
    third, other_user = await tokens_for(client)
    await redis.set(f"{prefix}:u:{other_user}:epoch", repr(time.time() + 1))
    assert (await post(third["refresh_token"])).status == 400
    ended = [e for e in await events(redis, settings.events.stream)
             if e["subject"] == other_user and e["type"] == "auth.token.revoked"]
    assert [e["data"]["reason"] for e in ended] == ["user_epoch"]
    assert ended[0]["data"]["family"] and re.match(UUID_SHAPE, ended[0]["id"])
    assert (await post(second["refresh_token"])).status == 400  # its family ended at the reuse


def hash_of(token: str) -> str:
    from app.tokens.opaque import hash_refresh_token

    return hash_refresh_token(token)
