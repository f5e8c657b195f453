"""Step-up: password change, MFA changes and admin actions need a recent login;
POST /auth/reauthenticate brings it back (and rotates the session id)."""
import asyncio

from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.integration.mfa.helpers import code_at, enrol, mfa_settings
from tests.support.browser import STRONG_PASSWORD, Browser, new_email

NEW = "a brand new long passphrase 99"


def stale_settings(make_settings, **extra):
    # A 1 s window, no session cache: the test waits it out instead of faking clocks.
    return mfa_settings(make_settings, security={"reauth_window_s": 1}, session={"cache_ttl_s": 0}, **extra)


async def reauth_required(reply) -> None:
    assert reply.status == 401, await reply.text()
    body = await reply.json()
    assert body["code"] == "reauthentication_required" and body["reauth_window_s"] == 1


async def test_sensitive_routes_refuse_an_old_login(serve, make_settings):
    client = await serve(stale_settings(make_settings))
    browser = Browser(client, "sid")
    await browser.signed_up()
    await asyncio.sleep(1.2)
    await reauth_required(await browser.request("POST", "/auth/password",
                                                json={"current_password": STRONG_PASSWORD, "new_password": NEW}))
    await reauth_required(await browser.request("POST", "/auth/mfa/totp/setup"))
    await reauth_required(await browser.request("POST", "/auth/mfa/totp/confirm", json={"code": "123456"}))
    await reauth_required(await browser.request("POST", "/auth/mfa/totp/disable",
                                                json={"password": STRONG_PASSWORD, "code": "123456"}))
    # Everyday routes do not ask.
    assert (await browser.request("GET", "/auth/session")).status == 200
    assert (await browser.request("GET", "/auth/mfa/totp")).status == 200


async def test_reauthenticate_refreshes_auth_time_and_rotates_the_id(serve, make_settings):
    client = await serve(stale_settings(make_settings))
    browser = Browser(client, "sid")
    await browser.signed_up()
    await asyncio.sleep(1.2)
    old_sid = browser.session_id
    wrong = await browser.request("POST", "/auth/reauthenticate", json={"password": "not it, not at all"})
    assert wrong.status == 401 and (await wrong.json())["code"] == "invalid_credentials"
    ok = await browser.request("POST", "/auth/reauthenticate", json={"password": STRONG_PASSWORD})
    assert ok.status == 200
    browser.csrf = (await ok.json())["csrf_token"]
    assert browser.session_id != old_sid
    assert (await client.get("/auth/session", headers={"Cookie": f"sid={old_sid}"})).status == 401
    changed = await browser.request("POST", "/auth/password",
                                    json={"current_password": STRONG_PASSWORD, "new_password": NEW})
    assert changed.status == 204


async def test_reauthenticate_needs_a_code_when_mfa_is_on(serve, make_settings):
    client = await serve(mfa_settings(make_settings, session={"cache_ttl_s": 0}))
    browser = Browser(client, "sid")
    await browser.signed_up()
    secret, _ = await enrol(browser)
    missing = await browser.request("POST", "/auth/reauthenticate", json={"password": STRONG_PASSWORD})
    assert missing.status == 401 and (await missing.json())["code"] == "invalid_mfa_code"
    # Without a code the password is not checked at all: a wrong one gets the same answer, so a
    # stolen session cannot use this route to tell a right password guess from a wrong one.
    guessed = await browser.request("POST", "/auth/reauthenticate", json={"password": "a wrong guess, surely"})
    assert guessed.status == 401 and (await guessed.json())["code"] == "invalid_mfa_code"
    ok = await browser.request("POST", "/auth/reauthenticate",
                               json={"password": STRONG_PASSWORD, "code": code_at(secret, +1)})
    assert ok.status == 200


async def test_reauthenticate_is_throttled_with_login(serve, make_settings):
    client = await serve(mfa_settings(make_settings, throttle={"account_free_failures": 2, "base_delay_s": 60}))
    browser = Browser(client, "sid")
    email = await browser.signed_up()
    statuses = [(await browser.request("POST", "/auth/reauthenticate", json={"password": "wrong guess 1234"})).status
                for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert (await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})).status == 429


async def test_reauthenticate_needs_a_cookie_session(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    reply = await client.post("/auth/reauthenticate", json={"password": STRONG_PASSWORD})
    assert reply.status == 401 and (await reply.json())["code"] == "unauthenticated"


async def test_admin_routes_need_a_recent_login_after_the_role_check(serve, make_settings):
    client = await serve(stale_settings(make_settings))
    accounts = client.server.app[SERVICES].accounts
    admin_email, user_email = new_email(), new_email()
    await accounts.register(admin_email, STRONG_PASSWORD, ClientInfo(), roles=("admin",))
    await accounts.register(user_email, STRONG_PASSWORD, ClientInfo())
    admin, user = Browser(client, "sid"), Browser(client, "sid")
    assert (await admin.login(admin_email)).status == 200 and (await user.login(user_email)).status == 200
    assert (await admin.request("GET", "/admin/roles")).status == 200  # fresh login: fine
    await asyncio.sleep(1.2)
    assert (await user.request("GET", "/admin/roles")).status == 403  # the role check comes first
    assert (await client.get("/admin/roles")).status == 401
    await reauth_required(await admin.request("GET", "/admin/roles"))
    await reauth_required(await admin.request("POST", "/admin/roles", json={"name": "editor"}))
    ok = await admin.request("POST", "/auth/reauthenticate", json={"password": STRONG_PASSWORD})
    admin.csrf = (await ok.json())["csrf_token"]
    assert (await admin.request("GET", "/admin/roles")).status == 200


async def test_a_reauthentication_refused_at_the_last_step_leaves_the_session_alone(serve, make_settings):
    """The new session is written before the old one ends (as at login): if writing it fails
    (here the roles keep changing, 503), the caller is still logged in."""
    from app.sessions.manager import RolesChangedError

    client = await serve(mfa_settings(make_settings, session={"cache_ttl_s": 0}))
    browser = Browser(client, "sid")
    await browser.signed_up()
    sessions = client.server.app[SERVICES].accounts.sessions
    real_start = sessions.start

    async def roles_keep_changing(**kwargs):
        raise RolesChangedError()

    sessions.start = roles_keep_changing
    try:
        refused = await browser.request("POST", "/auth/reauthenticate", json={"password": STRONG_PASSWORD})
    finally:
        sessions.start = real_start
    assert refused.status == 503, await refused.text()
    assert (await browser.request("GET", "/auth/session")).status == 200
