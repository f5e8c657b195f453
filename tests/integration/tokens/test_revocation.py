"""Revocation: by jti, by family, by user epoch and revoke-all; seen by every web process."""
import asyncio

from app.clock import now_s
from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.integration.sessions.helpers import events
from tests.integration.tokens.helpers import bearer, grant, new_user, refresh, token_settings, tokens_for
from tests.support.browser import STRONG_PASSWORD
from tests.support.timing import first_answer_within


async def _status_within(client, token: str, want: int, seconds: float) -> float:
    async def status() -> int:
        return (await client.get("/auth/sessions", headers=bearer(token))).status
    return await first_answer_within(status, want, seconds)


async def _two_processes(serve, settings):
    a, b = await serve(settings), await serve(settings)
    for app_client in (a, b):
        await app_client.server.app[SERVICES].bus.connected.wait()
    return a, b


async def test_revoked_access_token_is_rejected_by_a_second_process_at_once(serve, make_settings):
    a, b = await _two_processes(serve, token_settings(make_settings))
    body, _ = await tokens_for(a)
    token = body["access_token"]
    for _ in range(3):  # warm b's verified-token cache
        assert (await b.get("/auth/sessions", headers=bearer(token))).status == 200
    assert len(b.server.app[SERVICES].tokens.cache) >= 1
    assert (await a.post("/auth/revoke", json={"token": token, "token_type_hint": "access_token"})).status == 200
    await _status_within(b, token, 401, 0.1)
    assert (await a.get("/auth/sessions", headers=bearer(token))).status == 401


async def test_verified_tokens_are_served_from_the_cache_without_redis(serve, make_settings):
    client = await serve(token_settings(make_settings))
    body, _ = await tokens_for(client)
    tokens = client.server.app[SERVICES].tokens
    assert (await client.get("/auth/sessions", headers=bearer(body["access_token"]))).status == 200
    calls = 0
    original = tokens.store.access_state

    async def counting(*args):
        nonlocal calls
        calls += 1
        return await original(*args)

    tokens.store.access_state = counting
    bus = client.server.app[SERVICES].bus
    for _ in range(100):  # the cache serves once the link is proven current (a PONG away)
        if bus.trusted:
            break
        await asyncio.sleep(0.005)
    for _ in range(5):
        assert (await client.get("/auth/sessions", headers=bearer(body["access_token"]))).status == 200
    assert calls == 0
    # Without the invalidation link the cache is not trusted: every request checks Redis.
    client.server.app[SERVICES].bus.trusted = False
    assert (await client.get("/auth/sessions", headers=bearer(body["access_token"]))).status == 200
    assert calls == 1


async def test_revoking_a_refresh_token_ends_its_family_and_its_access_tokens(serve, make_settings):
    a, b = await _two_processes(serve, token_settings(make_settings))
    body, _ = await tokens_for(a)
    assert (await b.get("/auth/sessions", headers=bearer(body["access_token"]))).status == 200
    r = await a.post("/auth/revoke", data={"token": body["refresh_token"], "token_type_hint": "refresh_token"})
    assert r.status == 200
    assert (await refresh(a, body["refresh_token"])).status == 400
    await _status_within(b, body["access_token"], 401, 0.1)


async def test_revoking_a_refresh_token_drops_its_access_tokens_from_this_process_cache_at_once(
        serve, make_settings):
    """The process that revoked a family must not serve the family's access tokens from its own
    cache while its pub/sub message is still on the way back (a revoked access token is dropped
    locally at once; a revoked family's tokens must be too)."""
    client = await serve(token_settings(make_settings))
    services = client.server.app[SERVICES]
    await services.bus.connected.wait()
    body, _ = await tokens_for(client)
    cache = services.tokens.cache
    # The invalidation message is in flight: the link stays up (and the cache trusted), but the
    # cache has not heard it yet.
    services.bus._handlers.remove(cache.on_message)
    for _ in range(100):
        if services.bus.trusted:
            break
        await asyncio.sleep(0.005)
    assert (await client.get("/auth/sessions", headers=bearer(body["access_token"]))).status == 200
    assert len(cache) == 1
    assert (await client.post("/auth/revoke", json={"token": body["refresh_token"]})).status == 200
    assert services.bus.trusted
    assert (await client.get("/auth/sessions", headers=bearer(body["access_token"]))).status == 401


async def test_revoking_unknown_or_garbage_tokens_answers_200(client):
    for token in ["x" * 43, "not-a-token", "a.b.c", "eyJhbGciOiJub25lIn0.e30."]:
        assert (await client.post("/auth/revoke", json={"token": token})).status == 200
    missing = await client.post("/auth/revoke", json={})
    assert missing.status == 400 and (await missing.json())["error"] == "invalid_request"


async def test_password_change_rejects_tokens_issued_before_it(serve, make_settings):
    a, b = await _two_processes(serve, token_settings(make_settings))
    body, user_id = await tokens_for(a)
    token = body["access_token"]
    assert (await b.get("/auth/sessions", headers=bearer(token))).status == 200
    services = a.server.app[SERVICES]
    await services.accounts.change_password(user_id, STRONG_PASSWORD, "another strong passphrase 99",
                                            ClientInfo(), held=None,
                                            caller_session=None)
    await _status_within(b, token, 401, 0.1)
    assert (await refresh(a, body["refresh_token"])).status == 400
    # A grant right after (same second as the epoch) works: the new token is dated after it.
    async with services.sessionmaker() as session:
        email = (await services.users.by_id(session, user_id)).email
    fresh = await grant(a, email, "another strong passphrase 99")
    assert fresh.status == 200
    assert (await a.get("/auth/sessions", headers=bearer((await fresh.json())["access_token"]))).status == 200


async def test_forced_logout_fan_out_revokes_every_family_and_access_token(serve, make_settings, redis, prefix):
    settings = token_settings(make_settings)
    a, b = await _two_processes(serve, settings)
    email, user_id = await new_user(a)
    bodies = [await (await grant(a, email)).json() for _ in range(3)]
    services = a.server.app[SERVICES]
    epoch = now_s()
    await services.sessions.revoke_everything_before(user_id, epoch)
    report = await services.forced_logout.fan_out(user_id, epoch, "admin", tokens=services.tokens)
    assert report.tokens_revoked == 6  # three families, three access tokens
    for body in bodies:
        assert (await b.get("/auth/sessions", headers=bearer(body["access_token"]))).status == 401
        assert (await refresh(a, body["refresh_token"])).status == 400
    assert await redis.exists(f"{prefix}:u:{user_id}:t") == 0
    assert await services.tokens.revoke_all_for_user(user_id) == 0  # idempotent
    # One auth.token.revoked per family, each its own event (the audit log keeps one row per
    # event id), saying why.
    revoked = [e for e in await events(redis, settings.events.stream)
               if e["type"] == "auth.token.revoked" and e["subject"] == user_id]
    assert len(revoked) == 3 and len({e["id"] for e in revoked}) == 3
    assert len({e["data"]["family"] for e in revoked}) == 3
    assert {e["data"]["reason"] for e in revoked} == {"admin"}


async def test_the_fan_out_leaves_a_login_made_after_the_forced_logout_alone(serve, make_settings):
    client = await serve(token_settings(make_settings))
    email, user_id = await new_user(client)
    before = await (await grant(client, email)).json()
    services = client.server.app[SERVICES]
    epoch = now_s()
    await services.sessions.revoke_everything_before(user_id, epoch)
    await asyncio.sleep(1.1)  # tokens are dated in whole seconds
    after = await (await grant(client, email)).json()  # the user logs in again before the worker runs
    await services.forced_logout.fan_out(user_id, epoch, "admin", tokens=services.tokens)
    assert (await refresh(client, before["refresh_token"])).status == 400
    renewed = await refresh(client, after["refresh_token"])
    assert renewed.status == 200, await renewed.text()


async def test_logout_with_a_bearer_token_revokes_it(serve, make_settings):
    client = await serve(token_settings(make_settings))
    body, _ = await tokens_for(client)
    out = await client.post("/auth/logout", headers=bearer(body["access_token"]))
    assert out.status == 204
    assert (await client.get("/auth/sessions", headers=bearer(body["access_token"]))).status == 401


async def test_logout_with_a_bearer_token_ends_its_refresh_family_too(serve, make_settings):
    """A logout ends the login, not just one access token: the refresh token of that login (in
    the client's storage, or a thief's) must not mint new access tokens after the 204. The
    user's other logins (another device's family) carry on."""
    client = await serve(token_settings(make_settings))
    email, _ = await new_user(client)
    this_device = await (await grant(client, email)).json()
    other_device = await (await grant(client, email)).json()
    out = await client.post("/auth/logout", headers=bearer(this_device["access_token"]))
    assert out.status == 204
    after = await refresh(client, this_device["refresh_token"])
    assert after.status == 400 and (await after.json())["error"] == "invalid_grant", (
        f"the logged-out login's refresh token still works: {after.status}")
    assert (await refresh(client, other_device["refresh_token"])).status == 200
    assert (await client.get("/auth/sessions", headers=bearer(other_device["access_token"]))).status == 200


async def test_introspection_reports_revocation(serve, make_settings):
    client = await serve(token_settings(make_settings, http={"allow_insecure_basic": True}))
    created = await client.server.app[SERVICES].clients.create("rs", (), ClientInfo())
    from tests.integration.tokens.helpers import basic

    auth = basic(created.client_id, created.secret)
    body, user_id = await tokens_for(client)
    live = await (await client.post("/auth/introspect", json={"token": body["access_token"]}, headers=auth)).json()
    assert live["active"] is True and live["sub"] == user_id and live["token_type"] == "access_token"
    rt = await (await client.post("/auth/introspect", json={"token": body["refresh_token"]}, headers=auth)).json()
    assert rt["active"] is True and rt["sub"] == user_id and rt["token_type"] == "refresh_token"
    await client.post("/auth/revoke", json={"token": body["refresh_token"]})
    for token in (body["access_token"], body["refresh_token"], "garbage", "x" * 43):
        dead = await client.post("/auth/introspect", json={"token": token}, headers=auth)
        assert dead.status == 200 and await dead.json() == {"active": False}


async def test_sweep_purges_expired_families_from_user_indexes(serve, make_settings, redis, prefix):
    client = await serve(token_settings(make_settings, tokens={"refresh_family_ttl_s": 1}))
    email, user_id = await new_user(client)
    for _ in range(2):
        assert (await grant(client, email)).status == 200
    tokens = client.server.app[SERVICES].tokens
    assert await redis.zcard(f"{prefix}:u:{user_id}:t") == 2
    assert await tokens.sweep_revocations(now_s()) == 0
    assert await tokens.sweep_revocations(now_s() + 5) == 2
    assert await redis.zcard(f"{prefix}:u:{user_id}:t") == 0
    assert await redis.zscore(f"{prefix}:token-due", user_id) is None


async def test_revocation_entries_expire_with_the_token(serve, make_settings, redis, prefix):
    settings = token_settings(make_settings)
    client = await serve(settings)
    body, _ = await tokens_for(client)
    import jwt

    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    await client.post("/auth/revoke", json={"token": body["access_token"]})
    ttl = await redis.ttl(f"{prefix}:rv:{claims['jti']}")
    assert 0 < ttl <= settings.tokens.access_ttl_s + settings.tokens.leeway_s + 1
