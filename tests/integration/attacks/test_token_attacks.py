"""The token side of the attack surface: the password grant shares the login throttle
and gives nothing away, refresh tokens are throttled per address, an MFA code is good
once across cookie and token logins, and step-up holds for Bearer callers too."""
import asyncio

from tests.support.timing import medians_agree
from tests.integration.mfa.helpers import code_at, enrol
from tests.integration.sessions.helpers import pg_fetch
from tests.integration.tokens.helpers import bearer, grant, new_user, refresh, token_settings
from tests.support.browser import STRONG_PASSWORD, Browser, new_email

WRONG = "not the password at all 123"


async def test_password_grant_and_cookie_login_share_the_account_counter(serve, make_settings):
    client = await serve(token_settings(make_settings, throttle={"account_free_failures": 3, "base_delay_s": 60}))
    email, _ = await new_user(client)
    for _ in range(2):
        assert (await grant(client, email, WRONG)).status == 400
    assert (await client.post("/auth/login", json={"email": email, "password": WRONG})).status == 401
    throttled = await grant(client, email)  # the right password, after 3 failures over both routes
    body = await throttled.json()
    assert throttled.status == 429 and body["code"] == "too_many_attempts" and "Retry-After" in throttled.headers
    assert (await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})).status == 429


async def test_password_grant_errors_do_not_enumerate(serve, make_settings, database_url):
    settings = token_settings(make_settings, throttle={"account_free_failures": 10**6, "ip_free_failures": 10**6},
                              password={"time_cost": 2, "memory_kib": 19456})
    client = await serve(settings)
    existing, _ = await new_user(client)
    disabled, _ = await new_user(client)
    await pg_fetch(database_url, "UPDATE users SET disabled = true WHERE email = $1", disabled)
    cases = {"unknown": lambda: grant(client, new_email(), WRONG), "wrong": lambda: grant(client, existing, WRONG),
             "disabled": lambda: grant(client, disabled, STRONG_PASSWORD)}
    medians, seen, verify = await medians_agree(cases, settings, rounds=9)
    bodies = {body for replies in seen.values() for _, body, _ in replies}
    assert {status for replies in seen.values() for status, _, _ in replies} == {400}
    assert len(bodies) == 1, bodies
    assert max(medians.values()) - min(medians.values()) < 0.5 * verify, (medians, verify)


async def test_bad_refresh_tokens_are_throttled_per_address(serve, make_settings):
    client = await serve(token_settings(make_settings, throttle={"ip_free_failures": 3, "base_delay_s": 60}))
    email, _ = await new_user(client)
    good = (await (await grant(client, email)).json())["refresh_token"]
    for guess in ("A" * 43, "B" * 43, "not even shaped like one"):
        reply = await refresh(client, guess)
        assert reply.status == 400 and (await reply.json())["error"] == "invalid_grant"
    blocked = await refresh(client, "C" * 43)
    assert blocked.status == 429 and "Retry-After" in blocked.headers
    # Once the address is throttled, even a good token waits: guesses learn nothing more.
    assert (await refresh(client, good)).status == 429


async def test_a_good_refresh_does_not_count(serve, make_settings):
    client = await serve(token_settings(make_settings, throttle={"ip_free_failures": 2, "base_delay_s": 60}))
    email, _ = await new_user(client)
    token = (await (await grant(client, email)).json())["refresh_token"]
    for _ in range(5):
        reply = await refresh(client, token)
        assert reply.status == 200
        token = (await reply.json())["refresh_token"]


async def test_an_mfa_code_used_for_a_cookie_login_is_refused_by_the_mfa_grant(serve, make_settings):
    from app.mfa.secretbox import new_data_key

    client = await serve(token_settings(make_settings, security={"data_key": new_data_key()}))
    browser = Browser(client, "sid")
    email = await browser.signed_up()
    secret, _ = await enrol(browser)
    pending = await grant(client, email)
    body = await pending.json()
    assert pending.status == 400 and body["error"] == "mfa_required" and body["mfa_token"]
    login = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    code = code_at(secret, +1)
    cookie_login = await client.post("/auth/login/mfa", json={"mfa_token": (await login.json())["mfa_token"],
                                                               "code": code})
    assert cookie_login.status == 200
    replay = await client.post("/auth/token", json={"grant_type": "urn:authsvc:grant-type:mfa",
                                                     "mfa_token": body["mfa_token"], "code": code})
    assert replay.status == 400 and (await replay.json())["error"] == "invalid_grant"
    # The MFA-pending token is no bearer token either.
    assert (await client.get("/auth/sessions", headers=bearer(body["mfa_token"]))).status == 401


async def test_step_up_holds_for_bearer_callers_and_refresh_does_not_renew_it(serve, make_settings):
    # auth_time has whole-second resolution, so a 1 s window could already be spent by the
    # time the first request lands on a busy machine: 2 s, and a sleep past it.
    client = await serve(token_settings(make_settings, security={"reauth_window_s": 2},
                                        tokens={"cache_ttl_s": 0}))
    email, _ = await new_user(client, roles=("admin",))
    first = await (await grant(client, email)).json()
    assert (await client.get("/admin/roles", headers=bearer(first["access_token"]))).status == 200
    await asyncio.sleep(3.1)
    renewed = await (await refresh(client, first["refresh_token"])).json()
    for token in (first["access_token"], renewed["access_token"]):
        reply = await client.get("/admin/roles", headers=bearer(token))
        assert reply.status == 401 and (await reply.json())["code"] == "reauthentication_required"
        change = await client.post("/auth/password", headers=bearer(token),
                                   json={"current_password": STRONG_PASSWORD, "new_password": "a new long passphrase 9"})
        assert change.status == 401 and (await change.json())["code"] == "reauthentication_required"
    fresh = await (await grant(client, email)).json()  # a new password grant is the step-up
    assert (await client.get("/admin/roles", headers=bearer(fresh["access_token"]))).status == 200
