"""README, Throttling: "An outcome that arrives after the gate shut (parallel guesses) is
answered 429 whatever it was ... a refused login leaves nothing behind". For MFA: a refused
confirm leaves MFA off, a refused second step leaves the code unspent; and a confirm enables
only the secret its code was checked against."""
import asyncio

from app.http.appkeys import SERVICES
from app.throttle import Attempt, account_key
from tests.integration.mfa.helpers import code_at, enrol, mfa_settings, password_step, unused_step_code
from tests.support.browser import STRONG_PASSWORD, Browser


def meanwhile(repo, name: str, before):
    """Run ``before()`` inside ``repo.<name>``, while the request is between its check and its write."""
    original = getattr(repo, name)

    async def wrapped(*args):
        await before()
        return await original(*args)

    setattr(repo, name, wrapped)
    return lambda: setattr(repo, name, original)


async def user_id_of(browser: Browser) -> str:
    return (await (await browser.request("GET", "/auth/session")).json())["user"]["id"]


async def test_a_confirm_refused_by_a_gate_that_shut_meanwhile_leaves_mfa_off(serve, make_settings):
    client = await serve(mfa_settings(make_settings, throttle={"ip_free_failures": 3, "base_delay_s": 1}))
    services = client.server.app[SERVICES]
    owner = Browser(client, "sid")
    await owner.signed_up()
    secret = (await (await owner.request("POST", "/auth/mfa/totp/setup")).json())["secret"]

    async def sprayed():  # failed logins of others behind the same address land meanwhile
        for _ in range(3):
            await services.throttle.failed(Attempt(account=None, ip="127.0.0.1"))

    restore = meanwhile(services.mfa.repo, "confirm", sprayed)
    try:
        reply = await owner.request("POST", "/auth/mfa/totp/confirm", json={"code": code_at(secret)})
    finally:
        restore()
    assert reply.status == 429 and "recovery_codes" not in await reply.text()
    status = await (await owner.request("GET", "/auth/mfa/totp")).json()
    assert status == {"enabled": False, "pending": True, "recovery_codes_left": 0}


async def test_a_second_step_refused_meanwhile_leaves_the_recovery_code_unspent(serve, make_settings):
    client = await serve(mfa_settings(make_settings, throttle={"account_free_failures": 3, "base_delay_s": 1}))
    services = client.server.app[SERVICES]
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    _, codes = await enrol(owner)
    user_id = await user_id_of(owner)
    token = await password_step(client, email, STRONG_PASSWORD)

    async def guessed():  # parallel wrong codes from elsewhere shut the code counter
        for _ in range(3):
            await services.throttle.failed(Attempt(account=account_key("mfa", user_id), ip="198.51.100.7"))

    restore = meanwhile(services.mfa.repo, "use_recovery_code", guessed)
    try:
        refused = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": codes[0]})
    finally:
        restore()
    assert refused.status == 429 and "sid" not in refused.cookies
    status = await (await owner.request("GET", "/auth/mfa/totp")).json()
    assert status["recovery_codes_left"] == 10, status
    await asyncio.sleep(1.1)  # the backoff
    again = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": codes[0]})
    assert again.status == 200, await again.text()


async def test_a_second_step_refused_meanwhile_leaves_the_totp_step_unclaimed(serve, make_settings):
    client = await serve(mfa_settings(make_settings, throttle={"account_free_failures": 3, "base_delay_s": 1}))
    services = client.server.app[SERVICES]
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    secret, _ = await enrol(owner)
    user_id = await user_id_of(owner)
    first = await client.post("/auth/token", json={"grant_type": "password", "username": email,
                                                   "password": STRONG_PASSWORD})
    grant = {"grant_type": "urn:authsvc:grant-type:mfa", "mfa_token": (await first.json())["mfa_token"],
             "code": code_at(secret, +1)}

    async def guessed():
        for _ in range(3):
            await services.throttle.failed(Attempt(account=account_key("mfa", user_id), ip="198.51.100.7"))

    restore = meanwhile(services.mfa.repo, "use_step", guessed)
    try:
        refused = await client.post("/auth/token", json=grant)
    finally:
        restore()
    assert refused.status == 429 and "access_token" not in await refused.text()
    await asyncio.sleep(1.1)  # the backoff
    again = await client.post("/auth/token", json=grant)
    assert again.status == 200 and "access_token" in await again.json()


async def test_one_recovery_code_used_in_parallel_still_wins_once(serve, make_settings):
    client = await serve(mfa_settings(make_settings, throttle={"account_free_failures": 50}))
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    _, codes = await enrol(owner)
    tokens = [await password_step(client, email, STRONG_PASSWORD) for _ in range(8)]
    replies = await asyncio.gather(*(client.post("/auth/login/mfa", json={"mfa_token": t, "code": codes[0]})
                                     for t in tokens))
    assert sorted(r.status for r in replies) == [200] + [401] * 7


async def test_a_confirm_enables_only_the_secret_its_code_was_checked_against(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    services = client.server.app[SERVICES]
    owner = Browser(client, "sid")
    await owner.signed_up()
    first = (await (await owner.request("POST", "/auth/mfa/totp/setup")).json())["secret"]
    restarted = {}

    async def set_up_again():  # a second tab starts the setup over
        reply = await owner.request("POST", "/auth/mfa/totp/setup")
        restarted["secret"] = (await reply.json())["secret"]

    restore = meanwhile(services.mfa.repo, "confirm", set_up_again)
    try:
        reply = await owner.request("POST", "/auth/mfa/totp/confirm", json={"code": code_at(first)})
    finally:
        restore()
    assert reply.status == 409 and (await reply.json())["code"] == "mfa_setup_not_started"
    assert "recovery_codes" not in await reply.text()
    status = await (await owner.request("GET", "/auth/mfa/totp")).json()
    assert status == {"enabled": False, "pending": True, "recovery_codes_left": 0}
    # The secret now pending is the one the second tab shows, and it confirms as usual.
    ok = await owner.request("POST", "/auth/mfa/totp/confirm", json={"code": code_at(restarted["secret"])})
    assert ok.status == 200, await ok.text()


async def test_second_steps_racing_on_one_mfa_token_spend_one_code(serve, make_settings):
    """Two tabs (or retries) send the second step with the same mfa_token: one logs in, the
    others are refused for the spent token, and their recovery codes stay unused."""
    client = await serve(mfa_settings(make_settings, throttle={"account_free_failures": 50}))
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    _, codes = await enrol(owner)
    token = await password_step(client, email, STRONG_PASSWORD)
    replies = await asyncio.gather(*(client.post("/auth/login/mfa", json={"mfa_token": token, "code": code})
                                     for code in codes[:4]))
    assert sorted(r.status for r in replies) == [200, 401, 401, 401]
    for refused in (r for r in replies if r.status == 401):
        assert (await refused.json())["code"] == "mfa_token_invalid"
    status = await (await owner.request("GET", "/auth/mfa/totp")).json()
    assert status["recovery_codes_left"] == 9, status


async def test_a_second_step_whose_token_was_spent_meanwhile_leaves_the_totp_step_unclaimed(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    services = client.server.app[SERVICES]
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    secret, _ = await enrol(owner)
    token = await password_step(client, email, STRONG_PASSWORD)
    code = unused_step_code(secret)

    async def spent():  # the token's other request (another tab) completes first
        assert await services.mfa.challenges.consume(token)

    restore = meanwhile(services.mfa.repo, "use_step", spent)
    try:
        refused = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": code})
    finally:
        restore()
    assert refused.status == 401 and (await refused.json())["code"] == "mfa_token_invalid"
    # The step is still the user's to use: a new password step and the same code log in.
    again = await client.post("/auth/login/mfa", json={"mfa_token": await password_step(client, email, STRONG_PASSWORD),
                                                       "code": code})
    assert again.status == 200, await again.text()
