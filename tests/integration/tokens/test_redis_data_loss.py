"""Redis restarted without persistence (as preflight's HOW_TO_START and the tests' private
Redis run it) forgets the revocation list and every user's revocation epoch, while the
access JWTs live on with their holders: one revoked before the restart must stay rejected
afterwards (invariant 1: revocation is immediate; invariant 3: fail closed and recover).

The mark Redis's token state began is in whole seconds, like iat; the restarts below begin
in the second after the tokens were issued, as any real restart would."""
import asyncio
import time


from app.clock import now_s
from app.http.appkeys import SERVICES
from tests.integration.sessions.outage import until_ready
from tests.integration.tokens.helpers import bearer, token_settings, tokens_for


async def _next_second() -> None:
    await asyncio.sleep(1.05 - time.time() % 1)


async def test_revoked_access_token_stays_revoked_after_redis_restart(serve, make_settings, private_redis):
    settings = token_settings(make_settings, redis={"url": private_redis.url, "socket_timeout_s": 1.0})
    client = await serve(settings)
    await client.server.app[SERVICES].bus.connected.wait()
    body, _ = await tokens_for(client)
    token = body["access_token"]
    assert (await client.get("/auth/me", headers=bearer(token))).status == 200
    revoke = await client.post("/auth/revoke", json={"token": token, "token_type_hint": "access_token"})
    assert revoke.status == 200
    assert (await client.get("/auth/me", headers=bearer(token))).status == 401

    await _next_second()
    private_redis.stop()
    private_redis.start()  # same port, nothing kept (no RDB, no AOF)
    await until_ready(client)

    after = await client.get("/auth/me", headers=bearer(token))
    assert after.status == 401, f"revoked token accepted again after Redis lost its data: {after.status} {await after.text()}"


async def test_forced_logout_token_stays_rejected_after_redis_restart(serve, make_settings, private_redis):
    settings = token_settings(make_settings, redis={"url": private_redis.url, "socket_timeout_s": 1.0})
    client = await serve(settings)
    services = client.server.app[SERVICES]
    await services.bus.connected.wait()
    body, user_id = await tokens_for(client)
    token = body["access_token"]
    assert (await client.get("/auth/me", headers=bearer(token))).status == 200
    # What POST /admin/users/{id}/logout does before its 202 (the epoch; no worker needed).
    await services.sessions.revoke_everything_before(user_id, now_s(), [])
    assert (await client.get("/auth/me", headers=bearer(token))).status == 401

    await _next_second()
    private_redis.stop()
    private_redis.start()
    await until_ready(client)

    after = await client.get("/auth/me", headers=bearer(token))
    assert after.status == 401, f"force-logged-out user's token accepted again: {after.status} {await after.text()}"


async def test_tokens_issued_after_the_loss_work(serve, make_settings, private_redis):
    settings = token_settings(make_settings, redis={"url": private_redis.url, "socket_timeout_s": 1.0})
    client = await serve(settings)
    await client.server.app[SERVICES].bus.connected.wait()
    await tokens_for(client)
    private_redis.stop()
    private_redis.start()
    await until_ready(client)
    body, _ = await tokens_for(client)  # within the same second as the restart, too
    assert (await client.get("/auth/me", headers=bearer(body["access_token"]))).status == 200
