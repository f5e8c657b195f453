"""README: 'A login whose password was checked before such a revocation [password change, MFA
enrolment, forced logout] gets no trusted device (its cookie counts for nothing), however late it
completes.' POST /auth/reauthenticate answers like a login and trusts the device, but dates that
trust from an account read made *after* the session was written (stepup_routes.py), not from the
read its password was checked against."""
from app.http.appkeys import SERVICES
from app.throttle.attempt import account_key, sha256_hex
from tests.support.browser import STRONG_PASSWORD, Browser

NEW = "the owner's brand new passphrase 7"


def cheap(make_settings, **sections):
    base = {"password": {"time_cost": 1, "memory_kib": 1024},
            "cookie": {"name": "sid", "secure": False}, "session": {"cache_ttl_s": 0},
            "throttle": {"account_free_failures": 1, "base_delay_s": 600}}
    for k, v in sections.items():
        base.setdefault(k, {}).update(v)
    return make_settings(**base)


async def test_reauth_racing_a_password_change_gets_no_trusted_device(serve, make_settings, redis,
                                                                       prefix):
    client = await serve(cheap(make_settings))
    services = client.server.app[SERVICES]
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    thief = Browser(client, "sid")                       # has the password and a session
    assert (await thief.login(email)).status == 200

    real_end = services.sessions.end

    async def end_after_owner_changes_password(record, client_info, *, reason):
        if reason == "reauthenticated":
            # The owner's remedy lands after the thief's password was checked and its session written.
            changed = await owner.request("POST", "/auth/password",
                                          json={"current_password": STRONG_PASSWORD, "new_password": NEW})
            assert changed.status == 204, await changed.text()
        return await real_end(record, client_info, reason=reason)

    services.sessions.end = end_after_owner_changes_password
    reply = await thief.request("POST", "/auth/reauthenticate", json={"password": STRONG_PASSWORD})
    services.sessions.end = real_end
    device_cookies = [h for h in reply.headers.getall("Set-Cookie", []) if h.startswith("sid-device=")]
    print("reauth reply:", reply.status, device_cookies)
    assert reply.status == 200
    token = device_cookies[0].split(";")[0].split("=", 1)[1]

    index = f"{prefix}:th:ds:{sha256_hex(account_key('user', email))}"
    trusted = await redis.zscore(index, sha256_hex(token))
    # Behaviour: the owner's account is now backing off after a failure; the thief's device is not.
    bad = await client.post("/auth/login", json={"email": email, "password": "wrong guess number one"})
    assert bad.status == 401
    locked = await client.post("/auth/login", json={"email": email, "password": "wrong guess number two"})
    assert locked.status == 429
    with_device = await client.post("/auth/login", json={"email": email, "password": "wrong guess number three"},
                                    headers={"Cookie": f"sid-device={token}"})
    print("trusted score:", trusted, "login with thief's device while account locked:", with_device.status)
    assert trusted is None, "a device earned with the old password is trusted after the password change"
