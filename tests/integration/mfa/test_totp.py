"""TOTP enrolment, the two-step login, single use, recovery codes, disabling -- as an attacker tries them."""
import asyncio
import re
from urllib.parse import parse_qs, urlparse

import pyotp

from app.mfa.secretbox import new_data_key
from tests.integration.mfa.helpers import code_at, enrol, mfa_settings, password_step, redis_text
from tests.integration.sessions.helpers import events, pg_fetch
from tests.support.browser import STRONG_PASSWORD, Browser


async def signed_up(client):
    browser = Browser(client, cookie_name="sid")
    email = await browser.signed_up()
    return browser, email


async def test_setup_returns_uri_and_qr_and_keeps_the_secret_encrypted(serve, make_settings, database_url,
                                                                        redis, prefix):
    client = await serve(mfa_settings(make_settings, security={"mfa_issuer": "Example Co"}))
    browser, email = await signed_up(client)
    setup = await browser.request("POST", "/auth/mfa/totp/setup")
    assert setup.status == 201 and setup.headers["Cache-Control"] == "no-store"
    body = await setup.json()
    uri = urlparse(body["otpauth_uri"])
    query = parse_qs(uri.query)
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert query["secret"] == [body["secret"]] and query["issuer"] == ["Example Co"]
    assert email in uri.path.replace("%40", "@")
    assert len(body["secret"]) == 32 and re.fullmatch(r"[A-Z2-7]+", body["secret"])  # 160 bits
    assert body["qr_svg"].startswith("<svg") and "</svg>" in body["qr_svg"]
    # At rest: sealed, not the secret; not in Redis either.
    rows = await pg_fetch(database_url, "SELECT t.secret_sealed FROM mfa_totp t JOIN users u ON u.id = t.user_id"
                                        " WHERE u.email = $1", email)
    assert rows and rows[0]["secret_sealed"].startswith("v1.") and body["secret"] not in rows[0]["secret_sealed"]
    assert body["secret"] not in await redis_text(redis, prefix)
    # Not enabled until confirmed: login is still one step.
    assert (await Browser(client, "sid").login(email)).status == 200
    status = await (await browser.request("GET", "/auth/mfa/totp")).json()
    assert status == {"enabled": False, "pending": True, "recovery_codes_left": 0}


async def test_without_a_data_key_enrolment_is_refused(serve, make_settings):
    client = await serve(mfa_settings(make_settings, security={"data_key": ""}))
    browser, _ = await signed_up(client)
    reply = await browser.request("POST", "/auth/mfa/totp/setup")
    assert reply.status == 503 and (await reply.json())["code"] == "mfa_not_configured"


async def test_confirm_needs_the_right_code_then_two_step_login(serve, make_settings, redis, prefix):
    client = await serve(mfa_settings(make_settings))
    browser, email = await signed_up(client)
    assert (await browser.request("POST", "/auth/mfa/totp/confirm", json={"code": "123456"})).status == 409
    secret = (await (await browser.request("POST", "/auth/mfa/totp/setup")).json())["secret"]
    wrong = await browser.request("POST", "/auth/mfa/totp/confirm", json={"code": "000000"})
    assert wrong.status == 401 and (await wrong.json())["code"] == "invalid_mfa_code"
    ok = await browser.request("POST", "/auth/mfa/totp/confirm", json={"code": code_at(secret)})
    codes = (await ok.json())["recovery_codes"]
    assert ok.status == 200 and len(set(codes)) == 10
    browser.csrf = (await ok.json())["csrf_token"]  # enrolment rotated the session
    again = await browser.request("POST", "/auth/mfa/totp/setup")
    assert again.status == 409 and (await again.json())["code"] == "mfa_already_enabled"

    token = await password_step(client, email, STRONG_PASSWORD)
    final = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": code_at(secret, +1)})
    assert final.status == 200, await final.text()
    body = await final.json()
    assert body["user"]["email"] == email and body["csrf_token"]
    sid = final.cookies["sid"].value
    assert (await client.get("/auth/session", headers={"Cookie": f"sid={sid}"})).status == 200
    types = [e["type"] for e in await events(redis, f"{prefix}:events")]
    assert {"auth.mfa.setup_started", "auth.mfa.enabled", "auth.mfa.challenge_issued"} <= set(types)
    logins = [e for e in await events(redis, f"{prefix}:events") if e["type"] == "auth.login.succeeded"]
    assert logins[-1]["data"]["method"] == "password+totp"


async def test_the_mfa_token_is_single_use_and_useless_elsewhere(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    browser, email = await signed_up(client)
    secret, _ = await enrol(browser)
    token = await password_step(client, email, STRONG_PASSWORD)
    # Not a session, not a bearer token.
    for headers in ({"Cookie": f"sid={token}"}, {"Authorization": f"Bearer {token}"}):
        reply = await client.get("/auth/session", headers=headers)
        assert reply.status == 401
        assert (await client.get("/auth/sessions", headers=headers)).status == 401
    ok = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": code_at(secret, +1)})
    assert ok.status == 200
    reused = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": code_at(secret, -1)})
    assert reused.status == 401 and (await reused.json())["code"] == "mfa_token_invalid"
    forged = await client.post("/auth/login/mfa", json={"mfa_token": "A" * 43, "code": code_at(secret)})
    assert forged.status == 401 and (await forged.json())["code"] == "mfa_token_invalid"


async def test_a_code_is_accepted_once_even_across_login_attempts(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    browser, email = await signed_up(client)
    secret, _ = await enrol(browser)  # used the current step
    first, second = [await password_step(client, email, STRONG_PASSWORD) for _ in range(2)]
    replayed = await client.post("/auth/login/mfa", json={"mfa_token": first, "code": code_at(secret)})
    assert replayed.status == 401 and (await replayed.json())["code"] == "invalid_mfa_code"
    code = code_at(secret, +1)
    ok = await client.post("/auth/login/mfa", json={"mfa_token": first, "code": code})
    assert ok.status == 200
    stolen = await client.post("/auth/login/mfa", json={"mfa_token": second, "code": code})
    assert stolen.status == 401 and (await stolen.json())["code"] == "invalid_mfa_code"
    # An older step is refused too once a later one was used.
    older = await client.post("/auth/login/mfa", json={"mfa_token": second, "code": code_at(secret, -1)})
    assert older.status == 401


async def test_concurrent_use_of_one_code_wins_once(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    browser, email = await signed_up(client)
    secret, _ = await enrol(browser)
    tokens = [await password_step(client, email, STRONG_PASSWORD) for _ in range(6)]
    code = code_at(secret, +1)
    replies = await asyncio.gather(*(client.post("/auth/login/mfa", json={"mfa_token": t, "code": code})
                                     for t in tokens))
    assert sorted(r.status for r in replies) == [200] + [401] * 5


async def test_codes_outside_the_window_are_refused(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    browser, email = await signed_up(client)
    secret, _ = await enrol(browser)
    token = await password_step(client, email, STRONG_PASSWORD)
    for offset in (+3, -3):
        reply = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": code_at(secret, offset)})
        assert reply.status == 401


async def test_wrong_codes_kill_the_token_and_then_the_throttle_bites(serve, make_settings):
    client = await serve(mfa_settings(make_settings, throttle={"account_free_failures": 7, "base_delay_s": 60}))
    browser, email = await signed_up(client)
    secret, _ = await enrol(browser)
    token = await password_step(client, email, STRONG_PASSWORD)
    for guess in ("000001", "000002", "000003", "000004", "000005"):
        assert (await client.post("/auth/login/mfa", json={"mfa_token": token, "code": guess})).status == 401
    dead = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": code_at(secret, +1)})
    assert (await dead.json())["code"] == "mfa_token_invalid"  # 5 wrong codes spent it
    token = await password_step(client, email, STRONG_PASSWORD)
    for guess in ("000006", "000007"):
        assert (await client.post("/auth/login/mfa", json={"mfa_token": token, "code": guess})).status == 401
    throttled = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": code_at(secret, +1)})
    assert throttled.status == 429 and "Retry-After" in throttled.headers


async def test_recovery_codes_work_once_and_are_stored_hashed(serve, make_settings, database_url, redis, prefix):
    client = await serve(mfa_settings(make_settings))
    browser, email = await signed_up(client)
    _, codes = await enrol(browser)
    rows = await pg_fetch(database_url, "SELECT code_hash FROM mfa_recovery_codes r JOIN users u ON u.id = r.user_id"
                                        " WHERE u.email = $1", email)
    stored = " ".join(r["code_hash"] for r in rows)
    assert len(rows) == 10 and not any(c.replace("-", "") in stored or c in stored for c in codes)
    token = await password_step(client, email, STRONG_PASSWORD)
    ok = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": codes[0].upper()})
    assert ok.status == 200
    token = await password_step(client, email, STRONG_PASSWORD)
    again = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": codes[0]})
    assert again.status == 401
    used = [e for e in await events(redis, f"{prefix}:events") if e["type"] == "auth.mfa.recovery_used"]
    assert used and used[-1]["data"]["recovery_codes_left"] == 9
    assert codes[0] not in await redis_text(redis, prefix)


async def test_disabling_needs_password_and_code(serve, make_settings, redis, prefix):
    client = await serve(mfa_settings(make_settings))
    browser, email = await signed_up(client)
    secret, codes = await enrol(browser)
    cases = [({"password": "not my password at all", "code": code_at(secret, +1)}, "invalid_credentials"),
             ({"password": STRONG_PASSWORD, "code": "000000"}, "invalid_mfa_code"),
             ({"password": STRONG_PASSWORD}, "invalid_request"),
             ({"code": code_at(secret, +1)}, "invalid_request")]
    for body, code in cases:
        reply = await browser.request("POST", "/auth/mfa/totp/disable", json=body)
        assert reply.status in (401, 422) and (await reply.json())["code"] == code, body
    ok = await browser.request("POST", "/auth/mfa/totp/disable",
                               json={"password": STRONG_PASSWORD, "code": codes[3]})
    assert ok.status == 204
    assert (await Browser(client, "sid").login(email)).status == 200  # one step again
    assert "auth.mfa.disabled" in [e["type"] for e in await events(redis, f"{prefix}:events")]


async def test_a_sealed_secret_moved_to_another_user_does_not_open(serve, make_settings, database_url):
    client = await serve(mfa_settings(make_settings))
    alice, alice_email = await signed_up(client)
    mallory, mallory_email = await signed_up(client)
    alice_secret, _ = await enrol(alice)
    await enrol(mallory)
    await pg_fetch(database_url, """UPDATE mfa_totp SET secret_sealed = (
        SELECT secret_sealed FROM mfa_totp t JOIN users u ON u.id = t.user_id WHERE u.email = $1)
        WHERE user_id = (SELECT id FROM users WHERE email = $2)""", alice_email, mallory_email)
    token = await password_step(client, mallory_email, STRONG_PASSWORD)
    reply = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": code_at(alice_secret, +1)})
    assert reply.status == 503 and (await reply.json())["code"] == "mfa_not_configured"  # fails closed


async def test_key_rotation_old_secrets_still_open(serve, make_settings):
    old = new_data_key()
    client = await serve(mfa_settings(make_settings, security={"data_key": old}))
    browser, email = await signed_up(client)
    secret, _ = await enrol(browser)
    rotated = await serve(mfa_settings(make_settings, security={"data_key": f"{new_data_key()},{old}"}))
    token = await password_step(rotated, email, STRONG_PASSWORD)
    assert (await rotated.post("/auth/login/mfa", json={"mfa_token": token,
                                                        "code": code_at(secret, +1)})).status == 200


async def test_garbage_codes_and_tokens_are_4xx(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    browser, email = await signed_up(client)
    await enrol(browser)
    token = await password_step(client, email, STRONG_PASSWORD)
    for body in ({"mfa_token": token, "code": "x" * 10_000}, {"mfa_token": token, "code": 123456},
                 {"mfa_token": ["a"], "code": "123456"}, {"mfa_token": token, "code": "１２３４５６"},
                 {"mfa_token": "t" * 5000, "code": "123456"}, {}):
        reply = await client.post("/auth/login/mfa", json=body)
        assert 400 <= reply.status < 500 and reply.content_type == "application/problem+json", body


def test_pyotp_agrees_with_rfc6238_vector():
    # RFC 6238 appendix B, SHA-1, T=59 -> 94287082 (8 digits); we use 6: 287082.
    assert pyotp.TOTP("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").at(59) == "287082"


async def test_a_password_change_between_the_two_steps_ends_the_pending_login(serve, make_settings):
    """The second step's session rests on the password checked at the first: a change (or a
    forced logout) in between refuses it, though the code is right."""
    client = await serve(mfa_settings(make_settings))
    owner, email = await signed_up(client)
    secret, _ = await enrol(owner)
    mfa_token = await password_step(client, email, STRONG_PASSWORD)  # the old password, e.g. a thief's
    changed = await owner.request("POST", "/auth/password", json={
        "current_password": STRONG_PASSWORD, "new_password": "an entirely different passphrase 7"})
    assert changed.status == 204
    reply = await client.post("/auth/login/mfa", json={"mfa_token": mfa_token, "code": code_at(secret, +1)})
    assert reply.status == 401 and (await reply.json())["code"] == "invalid_credentials"
    assert not [h for h in reply.headers.getall("Set-Cookie", []) if h.startswith("sid=")]
