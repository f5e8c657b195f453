"""A wrong code that lands after its mfa_token died leaves no Redis key without an expiry."""
import asyncio

from app.http.appkeys import SERVICES
from tests.integration.mfa.helpers import code_at, enrol, mfa_settings, password_step
from tests.support.browser import STRONG_PASSWORD, Browser


async def test_a_wrong_code_for_a_token_that_expired_meanwhile_leaves_no_immortal_key(serve, make_settings, redis,
                                                                                      prefix):
    client = await serve(mfa_settings(make_settings, security={"mfa_challenge_ttl_s": 1}))
    owner = Browser(client, cookie_name="sid")
    email = await owner.signed_up()
    secret, _ = await enrol(owner)
    mfa = client.server.app[SERVICES].mfa
    real = mfa.verify_code

    async def slow_verify(*args, **kwargs):
        await asyncio.sleep(1.5)  # a slow database read: the token's 1 s runs out meanwhile
        return await real(*args, **kwargs)

    mfa.verify_code = slow_verify
    token = await password_step(client, email, STRONG_PASSWORD)
    wrong = "000000" if code_at(secret) != "000000" else "111111"
    reply = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": wrong})
    assert reply.status == 401
    immortal = [k async for k in redis.scan_iter(f"{prefix}:mfa:c:*") if await redis.ttl(k) == -1]
    assert not immortal, f"challenge keys without an expiry: {[(k, await redis.hgetall(k)) for k in immortal]}"
