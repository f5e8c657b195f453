"""Turning MFA on ends what the password alone opened: a thief who had the password (and used
it) keeps no session and no token once the owner enrols, and the owner carries on."""
from tests.integration.mfa.helpers import code_at, mfa_settings
from tests.integration.sessions.helpers import events
from tests.support.browser import STRONG_PASSWORD, Browser


async def _confirm(owner: Browser):
    setup = await owner.request("POST", "/auth/mfa/totp/setup")
    assert setup.status == 201, await setup.text()
    return await owner.request("POST", "/auth/mfa/totp/confirm",
                               json={"code": code_at((await setup.json())["secret"])})


async def test_enrolment_ends_every_other_session_and_token(serve, make_settings, redis, prefix):
    client = await serve(mfa_settings(make_settings))
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    thief = Browser(client, "sid")
    assert (await thief.login(email)).status == 200
    grant = await client.post("/auth/token", json={"grant_type": "password", "username": email,
                                                   "password": STRONG_PASSWORD})
    tokens = await grant.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get("/auth/mfa/totp", headers=bearer)).status == 200
    before = owner.session_id

    confirm = await _confirm(owner)
    assert confirm.status == 200, await confirm.text()
    body = await confirm.json()
    assert body["enabled"] is True and len(body["recovery_codes"]) == 10

    # The thief's session, access token and refresh token are all refused now.
    assert (await thief.request("GET", "/auth/session")).status == 401
    assert (await client.get("/auth/mfa/totp", headers=bearer)).status == 401
    refresh = await client.post("/auth/token", json={"grant_type": "refresh_token",
                                                     "refresh_token": tokens["refresh_token"]})
    assert refresh.status == 400 and (await refresh.json())["error"] == "invalid_grant"
    # The owner carries on under a new session id, with the new session's CSRF token in the reply.
    assert owner.session_id and owner.session_id != before
    assert (await client.get("/auth/session", headers={"Cookie": f"sid={before}"})).status == 401
    current = await owner.request("GET", "/auth/session")
    assert current.status == 200
    assert body["csrf_token"] == (await current.json())["csrf_token"]
    owner.csrf = body["csrf_token"]
    assert (await owner.request("GET", "/auth/mfa/totp")).status == 200
    assert (await owner.request("DELETE", "/auth/sessions")).status == 204  # the new token works
    ended = [e for e in await events(redis, f"{prefix}:events")
             if e["type"] == "auth.session.revoked" and e["data"].get("reason") == "mfa_enabled"]
    assert len(ended) == 2  # the thief's and the owner's old one


async def test_a_refused_confirmation_ends_nothing(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    other = Browser(client, "sid")
    assert (await other.login(email)).status == 200
    await owner.request("POST", "/auth/mfa/totp/setup")
    wrong = await owner.request("POST", "/auth/mfa/totp/confirm", json={"code": "000000"})
    assert wrong.status == 401
    assert (await other.request("GET", "/auth/session")).status == 200
    assert (await owner.request("GET", "/auth/session")).status == 200


async def test_a_token_caller_enrols_and_must_sign_in_again_with_a_code(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    email = await Browser(client, "sid").signed_up()
    grant = await client.post("/auth/token", json={"grant_type": "password", "username": email,
                                                   "password": STRONG_PASSWORD})
    bearer = {"Authorization": f"Bearer {(await grant.json())['access_token']}"}
    setup = await client.post("/auth/mfa/totp/setup", headers=bearer)
    assert setup.status == 201, await setup.text()
    confirm = await client.post("/auth/mfa/totp/confirm", headers=bearer,
                                json={"code": code_at((await setup.json())["secret"])})
    assert confirm.status == 200, await confirm.text()
    body = await confirm.json()
    assert len(body["recovery_codes"]) == 10 and "csrf_token" not in body
    assert (await client.get("/auth/mfa/totp", headers=bearer)).status == 401
    again = await client.post("/auth/token", json={"grant_type": "password", "username": email,
                                                   "password": STRONG_PASSWORD})
    assert again.status == 400 and (await again.json())["error"] == "mfa_required"
