"""A refresh that fails after its rotation script ran (Postgres down while reading the roles,
a token that cannot be signed) leaves the presented refresh token as it was: the client's
retry, even after the grace window, is a normal refresh, not reuse that ends the login."""
import asyncio
import logging

import pytest

import app.tokens.service as token_service
from app.errors import ServiceUnavailableError
from app.http.appkeys import SERVICES
from app.tokens.errors import AccessTokenTooLargeError
from app.tokens.holders import active_roles
from app.tokens.opaque import hash_refresh_token
from tests.integration.sessions.helpers import events
from tests.integration.tokens.helpers import bearer, refresh, token_settings, tokens_for

GRACE_S = 0.3
MANY_LONG_ROLES = tuple(f"dept-{i:03d}-" + "r" * 50 for i in range(200))


async def postgres_down(*a, **kw):
    raise ServiceUnavailableError("Postgres is unreachable.")


async def token_state(redis, prefix: str) -> dict:
    """The refresh records and families under ``prefix`` (with their access jtis)."""
    state = {}
    for pattern in (f"{prefix}:rt:*", f"{prefix}:rf:*"):
        async for key in redis.scan_iter(pattern, count=1000):
            kind = await redis.type(key)
            state[key] = (await redis.hgetall(key) if kind == "hash"
                          else await redis.zrange(key, 0, -1, withscores=True))
    return state


async def family_of(redis, prefix: str, refresh_token: str) -> dict:
    fam = await redis.hget(f"{prefix}:rt:{hash_refresh_token(refresh_token)}", "fam")
    return await redis.hgetall(f"{prefix}:rf:{fam}")


def types(evs: list[dict]) -> list[str]:
    return [e["type"] for e in evs]


async def test_a_503_after_the_rotation_leaves_the_refresh_token_usable(serve, make_settings, monkeypatch,
                                                                          redis, prefix):
    settings = token_settings(make_settings, tokens={"refresh_grace_s": GRACE_S})
    client = await serve(settings)
    body, user_id = await tokens_for(client)
    before = await token_state(redis, prefix)

    monkeypatch.setattr(token_service, "active_roles", postgres_down)
    r = await refresh(client, body["refresh_token"])
    assert r.status == 503, await r.text()
    assert r.content_type == "application/problem+json"
    # The failed request left the refresh records, the family and its jtis as they were.
    assert await token_state(redis, prefix) == before
    # The rotation's audit entry has its counterpart: the successor was withdrawn.
    withdrawn = [e for e in await events(redis, settings.events.stream)
                 if e["type"] == "auth.token.revoked" and e["data"].get("reason") == "refresh_failed"]
    assert len(withdrawn) == 1 and withdrawn[0]["subject"] == user_id and withdrawn[0]["data"]["family"]

    monkeypatch.undo()  # Postgres is back, after the grace window
    await asyncio.sleep(GRACE_S + 0.2)
    r = await refresh(client, body["refresh_token"])
    assert r.status == 200, await r.text()
    second = await r.json()
    evs = await events(redis, settings.events.stream)
    assert "auth.token.reuse_detected" not in types(evs)
    assert (await family_of(redis, prefix, body["refresh_token"]))["revoked"] == "0"
    assert (await client.get("/auth/sessions", headers=bearer(second["access_token"]))).status == 200
    assert (await refresh(client, second["refresh_token"])).status == 200


async def test_the_token_that_failed_is_still_single_use(serve, make_settings, monkeypatch, redis):
    settings = token_settings(make_settings, tokens={"refresh_grace_s": 0})
    client = await serve(settings)
    body, _ = await tokens_for(client)
    monkeypatch.setattr(token_service, "active_roles", postgres_down)
    assert (await refresh(client, body["refresh_token"])).status == 503
    assert (await refresh(client, body["refresh_token"])).status == 503  # as often as it fails
    monkeypatch.undo()

    r = await refresh(client, body["refresh_token"])
    assert r.status == 200, await r.text()
    second = await r.json()
    # Spent now, for good: presenting it again is reuse, and ends the family.
    again = await refresh(client, body["refresh_token"])
    assert again.status == 400 and (await again.json())["error"] == "invalid_grant"
    assert "auth.token.reuse_detected" in types(await events(redis, settings.events.stream))
    assert (await refresh(client, second["refresh_token"])).status == 400


async def test_an_access_token_too_large_to_sign_undoes_the_rotation(serve, make_settings, monkeypatch,
                                                                      redis, prefix):
    settings = token_settings(make_settings, tokens={"refresh_grace_s": GRACE_S})
    client = await serve(settings)
    body, user_id = await tokens_for(client)
    before = await token_state(redis, prefix)

    async def too_many_roles(*a, **kw):  # granted straight in the database, past the budget
        return MANY_LONG_ROLES

    monkeypatch.setattr(token_service, "active_roles", too_many_roles)
    r = await refresh(client, body["refresh_token"])
    assert r.status == 400 and "roles" in (await r.json())["error_description"], await r.text()
    assert await token_state(redis, prefix) == before
    monkeypatch.undo()

    # An admin removes the roles (which replaces the roles the refresh remembered), and the
    # same refresh token works again, after the grace window too.
    await redis.delete(client.server.app[SERVICES].tokens.store.user_roles(user_id))
    await asyncio.sleep(GRACE_S + 0.2)
    r = await refresh(client, body["refresh_token"])
    assert r.status == 200, await r.text()
    assert "auth.token.reuse_detected" not in types(await events(redis, settings.events.stream))


@pytest.mark.parametrize("error, status", [(AccessTokenTooLargeError, 400), (ServiceUnavailableError, 503)])
async def test_a_failure_to_sign_undoes_the_rotation(serve, make_settings, monkeypatch, redis, prefix,
                                                    error, status):
    settings = token_settings(make_settings, tokens={"refresh_grace_s": GRACE_S})
    client = await serve(settings)
    body, _ = await tokens_for(client)
    before = await token_state(redis, prefix)

    def cannot_sign(*a, **kw):
        raise error()

    monkeypatch.setattr(token_service.TokenService, "_sign", cannot_sign)
    r = await refresh(client, body["refresh_token"])
    assert r.status == status, await r.text()
    # Roles remembered in Redis are a cache of Postgres, not part of the rotation.
    assert await token_state(redis, prefix) == before
    monkeypatch.undo()
    await asyncio.sleep(GRACE_S + 0.2)
    r = await refresh(client, body["refresh_token"])
    assert r.status == 200, await r.text()
    assert "auth.token.reuse_detected" not in types(await events(redis, settings.events.stream))


async def test_when_the_undo_fails_too_the_client_gets_the_first_error_and_grace_covers_a_retry(
        serve, make_settings, monkeypatch, caplog):
    client = await serve(token_settings(make_settings, tokens={"refresh_grace_s": 10}))
    body, _ = await tokens_for(client)
    store = client.server.app[SERVICES].tokens.store

    async def redis_gone(*a, **kw):
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(token_service, "active_roles", postgres_down)
    monkeypatch.setattr(store, "undo_rotation", redis_gone)
    with caplog.at_level(logging.WARNING, logger="app.tokens"):
        r = await refresh(client, body["refresh_token"])
    assert r.status == 503, await r.text()
    assert any("could not be undone" in m for m in caplog.messages), caplog.messages
    monkeypatch.undo()
    # Within the grace window the retry gets the successor the failed request stored.
    r = await refresh(client, body["refresh_token"])
    assert r.status == 200, await r.text()


class Held:
    """A stand-in for active_roles whose calls wait until the test settles each one."""

    def __init__(self) -> None:
        self.calls: list[asyncio.Future] = []
        self.entered = asyncio.Condition()

    async def __call__(self, engine, user_id):
        outcome = asyncio.get_running_loop().create_future()
        async with self.entered:
            self.calls.append(outcome)
            self.entered.notify_all()
        verdict = await outcome
        if isinstance(verdict, BaseException):
            raise verdict
        return await active_roles(engine, user_id)

    async def wait_for(self, n: int) -> None:
        async with self.entered:
            await asyncio.wait_for(self.entered.wait_for(lambda: len(self.calls) >= n), 5)

    def fail(self, i: int) -> None:
        self.calls[i].set_result(ServiceUnavailableError("Postgres is unreachable."))

    def answer(self, i: int) -> None:
        self.calls[i].set_result(True)


async def _rotating_and_grace_requests(client, monkeypatch, refresh_token: str):
    """A rotating request held in its roles read, and a sibling that came within the grace
    window (so it was handed the successor) held in its own."""
    held = Held()
    monkeypatch.setattr(token_service, "active_roles", held)
    rotating = asyncio.create_task(refresh(client, refresh_token))
    await held.wait_for(1)
    sibling = asyncio.create_task(refresh(client, refresh_token))
    await held.wait_for(2)
    return held, rotating, sibling


async def test_a_successor_a_sibling_was_handed_is_not_taken_back(serve, make_settings, monkeypatch, redis):
    settings = token_settings(make_settings, tokens={"refresh_grace_s": 10})
    client = await serve(settings)
    body, _ = await tokens_for(client)
    held, rotating, sibling = await _rotating_and_grace_requests(client, monkeypatch, body["refresh_token"])
    held.answer(1)
    r = await sibling
    assert r.status == 200, await r.text()
    handed = await r.json()
    held.fail(0)
    assert (await rotating).status == 503
    monkeypatch.undo()
    # The sibling's reply stands: its refresh token is the family's current one.
    assert (await refresh(client, handed["refresh_token"])).status == 200
    assert "auth.token.reuse_detected" not in types(await events(redis, settings.events.stream))


@pytest.mark.parametrize("first", [0, 1])
async def test_when_the_sibling_fails_too_the_rotation_is_undone_whichever_fails_first(
        serve, make_settings, monkeypatch, redis, prefix, first):
    settings = token_settings(make_settings, tokens={"refresh_grace_s": GRACE_S})
    client = await serve(settings)
    body, _ = await tokens_for(client)
    before = await token_state(redis, prefix)
    held, rotating, sibling = await _rotating_and_grace_requests(client, monkeypatch, body["refresh_token"])
    requests = [rotating, sibling]
    held.fail(first)
    assert (await requests[first]).status == 503
    held.fail(1 - first)
    assert (await requests[1 - first]).status == 503
    monkeypatch.undo()
    assert await token_state(redis, prefix) == before
    await asyncio.sleep(GRACE_S + 0.2)
    r = await refresh(client, body["refresh_token"])
    assert r.status == 200, await r.text()
    assert "auth.token.reuse_detected" not in types(await events(redis, settings.events.stream))
