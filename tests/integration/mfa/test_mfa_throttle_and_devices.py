"""README, Throttling: "a way in for the owner ... the owner can log in from a known browser
while an attacker holds the account at its block". With MFA the attacker is one who has the
password: their wrong codes hold the per-user code counter shut, and the owner's trusted
browser still gets through, counted on its own device counter, as at the password step."""
from app.http.appkeys import SERVICES
from tests.integration.mfa.helpers import code_at, enrol, mfa_settings, password_step
from tests.support.browser import STRONG_PASSWORD, Browser
from tests.support.faults import failing_once

MFA_GRANT = "urn:authsvc:grant-type:mfa"
HELD = {"account_free_failures": 100, "account_block_after": 5, "ip_free_failures": 1000}


async def trusted_device(client, email: str, secret: str) -> str:
    """The device cookie of a browser that completed both steps once."""
    token = await password_step(client, email, STRONG_PASSWORD)
    done = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": code_at(secret, +1)})
    assert done.status == 200, await done.text()
    return done.cookies["sid-device"].value


async def hold_the_code_counter(client, email: str, device: str | None = None) -> None:
    """A password thief's five wrong codes: the code counter is at its block."""
    stolen = await password_step(client, email, STRONG_PASSWORD)
    headers = {"Cookie": f"sid-device={device}"} if device else {}
    for guess in ("000001", "000002", "000003", "000004", "000005"):
        reply = await client.post("/auth/login/mfa", json={"mfa_token": stolen, "code": guess}, headers=headers)
        assert reply.status == 401
    blocked = await password_step(client, email, STRONG_PASSWORD)
    reply = await client.post("/auth/login/mfa", json={"mfa_token": blocked, "code": "000006"}, headers=headers)
    assert reply.status == 429


async def test_the_owners_browser_gets_past_a_code_counter_a_password_thief_holds(serve, make_settings):
    client = await serve(mfa_settings(make_settings, throttle=HELD))
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    secret, recovery_codes = await enrol(owner)
    device = await trusted_device(client, email, secret)
    # The thief's own browser is trusted too -- for the thief's own account, which is worth nothing here.
    thief = Browser(client, "sid")
    await thief.signed_up()
    thief_device = thief.last_set_cookie["sid-device"].value
    await hold_the_code_counter(client, email, device=thief_device)

    mine = {"Cookie": f"sid-device={device}"}
    first = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD}, headers=mine)
    assert first.status == 200
    second = await client.post("/auth/login/mfa", json={"mfa_token": (await first.json())["mfa_token"],
                                                        "code": recovery_codes[0]}, headers=mine)
    assert second.status == 200, await second.text()
    assert second.cookies["sid-device"].value == device
    # Without the cookie the counter is still held: the owner's success did not hand it back to the thief.
    again = await password_step(client, email, STRONG_PASSWORD)
    refused = await client.post("/auth/login/mfa", json={"mfa_token": again, "code": recovery_codes[1]})
    assert refused.status == 429


async def test_the_mfa_grant_from_the_owners_browser_gets_past_it_too(serve, make_settings):
    client = await serve(mfa_settings(make_settings, throttle=HELD))
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    secret, recovery_codes = await enrol(owner)
    device = await trusted_device(client, email, secret)
    await hold_the_code_counter(client, email)

    mine = {"Cookie": f"sid-device={device}"}
    first = await client.post("/auth/token", json={"grant_type": "password", "username": email,
                                                   "password": STRONG_PASSWORD})
    mfa_token = (await first.json())["mfa_token"]
    granted = await client.post("/auth/token", json={"grant_type": MFA_GRANT, "mfa_token": mfa_token,
                                                     "code": recovery_codes[0]}, headers=mine)
    assert granted.status == 200, await granted.text()
    assert "access_token" in await granted.json()


async def test_signed_in_on_the_trusted_browser_the_owner_can_still_turn_mfa_off(serve, make_settings):
    client = await serve(mfa_settings(make_settings, throttle=HELD))
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    device = owner.last_set_cookie["sid-device"].value  # the browser the owner signed up on
    with_device = {"Cookie": f"sid={owner.session_id}; sid-device={device}"}
    # Enrolled from that browser, which sends its device cookie along: enrolment revokes every
    # device a password alone earned but the caller's own.
    setup = await owner.request("POST", "/auth/mfa/totp/setup", headers=with_device)
    confirm = await owner.request("POST", "/auth/mfa/totp/confirm", headers=with_device,
                                  json={"code": code_at((await setup.json())["secret"])})
    assert confirm.status == 200, await confirm.text()
    recovery_codes = (await confirm.json())["recovery_codes"]
    # Enrolment ended every login but the caller's, which carries on under a new id.
    owner.csrf = (await confirm.json())["csrf_token"]
    with_device = {"Cookie": f"sid={owner.session_id}; sid-device={device}"}
    await hold_the_code_counter(client, email)

    regenerated = await owner.request("POST", "/auth/mfa/totp/recovery-codes", json={"code": recovery_codes[0]},
                                      headers=with_device)
    assert regenerated.status == 200, await regenerated.text()
    fresh = (await regenerated.json())["recovery_codes"]
    off = await owner.request("POST", "/auth/mfa/totp/disable", json={"password": STRONG_PASSWORD,
                                                                       "code": fresh[0]}, headers=with_device)
    assert off.status == 204, await off.text()


async def test_a_second_step_whose_device_write_fails_still_signs_the_user_in(serve, make_settings, caplog):
    """The session is written and the code spent before the browser is trusted: a store blip
    at that last write must not answer 503 with no cookie (the user would have to start over,
    with one code fewer), so the login succeeds without a device cookie."""
    client = await serve(mfa_settings(make_settings))
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    secret, _ = await enrol(owner)
    token = await password_step(client, email, STRONG_PASSWORD)
    accounts = client.server.app[SERVICES].accounts
    accounts.remember_device = failing_once(accounts.remember_device)
    done = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": code_at(secret, +1)})
    assert accounts.remember_device.calls == 1
    assert done.status == 200, await done.text()
    assert "sid" in done.cookies and "sid-device" not in done.cookies
    assert (await client.get("/auth/session", headers={"Cookie": f"sid={done.cookies['sid'].value}"})).status == 200
    assert "not trusted" in caplog.text
