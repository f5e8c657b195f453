"""POST /auth/login under attack: throttled on the wire with 429 + Retry-After."""
import asyncio

from tests.support.browser import STRONG_PASSWORD, Browser, new_email

WRONG = "not the password at all 123"


def fast(make_settings, **throttle):
    # Cheap argon2: these tests are about counting, not hashing cost.
    return make_settings(password={"time_cost": 1, "memory_kib": 1024},
                         throttle={"base_delay_s": 30, **throttle})


async def login(client, email, password, headers=None):
    reply = await client.post("/auth/login", json={"email": email, "password": password}, headers=headers)
    return reply, await reply.json()


async def test_after_the_free_failures_429_with_retry_after_even_for_the_right_password(serve, make_settings):
    client = await serve(fast(make_settings, account_free_failures=3))
    email = new_email()
    assert (await Browser(client).register(email)).status == 201
    for _ in range(3):
        reply, body = await login(client, email, WRONG)
        assert reply.status == 401 and body["code"] == "invalid_credentials"
    wrong, wrong_body = await login(client, email, WRONG)
    right, right_body = await login(client, email.upper(), STRONG_PASSWORD)  # same account, other spelling
    for reply, body in ((wrong, wrong_body), (right, right_body)):
        assert reply.status == 429 and reply.content_type == "application/problem+json"
        assert body["code"] == "too_many_attempts"
        assert 1 <= int(reply.headers["Retry-After"]) <= 30
        assert "Set-Cookie" not in reply.headers
    # Throttled-but-valid and throttled-but-wrong are indistinguishable.
    assert set(wrong_body) == set(right_body) and wrong_body["detail"] == right_body["detail"]


async def test_unknown_accounts_are_throttled_exactly_like_real_ones(serve, make_settings):
    client = await serve(fast(make_settings, account_free_failures=2))
    real = new_email()
    assert (await Browser(client).register(real)).status == 201
    statuses = {}
    for email in (real, new_email()):
        statuses[email == real] = [(await login(client, email, WRONG))[0].status for _ in range(4)]
    assert statuses[True] == statuses[False] == [401, 401, 429, 429]


async def test_spoofed_forwarded_for_changes_nothing_without_a_trusted_proxy(serve, make_settings):
    client = await serve(fast(make_settings, account_free_failures=2, ip_free_failures=2))
    emails = [new_email() for _ in range(3)]
    for i, email in enumerate(emails[:2]):
        reply, _ = await login(client, email, WRONG, headers={"X-Forwarded-For": f"203.0.113.{i}"})
        assert reply.status == 401
    # Third account, fresh spoofed address: still the same source to us -> the per-IP counter.
    reply, _ = await login(client, emails[2], WRONG, headers={"X-Forwarded-For": "198.51.100.200"})
    assert reply.status == 429


async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_source(serve, make_settings):
    settings = fast(make_settings, account_free_failures=50, ip_free_failures=2)
    settings.http.trusted_proxies = "127.0.0.1"
    client = await serve(settings)
    for i in range(2):
        reply, _ = await login(client, new_email(), WRONG, headers={"X-Forwarded-For": "203.0.113.9"})
        assert reply.status == 401
    reply, _ = await login(client, new_email(), WRONG, headers={"X-Forwarded-For": "203.0.113.9"})
    assert reply.status == 429  # spraying from 203.0.113.9 is slowed
    reply, _ = await login(client, new_email(), WRONG, headers={"X-Forwarded-For": "198.51.100.4"})
    assert reply.status == 401  # another client behind the proxy is not


async def test_rotating_forwarded_addresses_does_not_help_against_one_account(serve, make_settings):
    settings = fast(make_settings, account_free_failures=2)
    settings.http.trusted_proxies = "127.0.0.1"
    client = await serve(settings)
    victim = new_email()
    statuses = [(await login(client, victim, WRONG, headers={"X-Forwarded-For": f"192.0.2.{i}"}))[0].status
                for i in range(4)]
    assert statuses == [401, 401, 429, 429]


async def test_the_owner_gets_in_with_the_device_cookie_while_the_account_is_blocked(serve, make_settings):
    settings = fast(make_settings, account_free_failures=100, account_block_after=5, ip_free_failures=1000)
    settings.cookie.name, settings.cookie.secure = "sid", False
    client = await serve(settings)
    owner = Browser(client, cookie_name="sid")
    email = await owner.signed_up()
    reply = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    device = reply.cookies["sid-device"]
    assert device["httponly"] and device["samesite"] == "Strict" and int(device["max-age"]) > 86400
    for _ in range(5):
        assert (await login(client, email, WRONG))[0].status == 401  # the attacker
    blocked, _ = await login(client, email, STRONG_PASSWORD)
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) > 3600  # blocked for the window
    # The owner's browser presents its device cookie and is let in ...
    mine, body = await login(client, email, STRONG_PASSWORD, headers={"Cookie": f"sid-device={device.value}"})
    assert mine.status == 200 and body["user"]["email"] == email
    # ... the same token comes back (not a new one per login), and the block is lifted.
    assert mine.cookies["sid-device"].value == device.value
    assert (await login(client, email, WRONG))[0].status == 401
    assert owner.session_id  # the owner's earlier session was never touched


async def test_a_forged_device_cookie_does_not_unblock(serve, make_settings):
    settings = fast(make_settings, account_free_failures=100, account_block_after=3)
    settings.cookie.name, settings.cookie.secure = "sid", False
    client = await serve(settings)
    email = await Browser(client, cookie_name="sid").signed_up()
    attacker_email = await Browser(client, cookie_name="sid").signed_up()
    own = await client.post("/auth/login", json={"email": attacker_email, "password": STRONG_PASSWORD})
    attacker_device = own.cookies["sid-device"].value
    for _ in range(3):
        await login(client, email, WRONG)
    for forged in (attacker_device, "A" * 43, "x" * 5000):
        reply, _ = await login(client, email, STRONG_PASSWORD, headers={"Cookie": f"sid-device={forged}"})
        assert reply.status == 429


async def test_password_change_is_throttled_on_the_account(serve, make_settings):
    settings = fast(make_settings, account_free_failures=2)
    settings.cookie.name, settings.cookie.secure = "sid", False
    client = await serve(settings)
    browser = Browser(client, cookie_name="sid")
    email = await browser.signed_up()
    body = {"current_password": WRONG, "new_password": "another long passphrase 77"}
    assert [(await browser.request("POST", "/auth/password", json=body)).status for _ in range(3)] == [401, 401, 429]
    # The login counter is the same one: a stolen session cannot guess the password there either.
    assert (await login(client, email, STRONG_PASSWORD))[0].status == 429


async def test_parallel_burst_learns_no_more_than_the_free_failures(serve, make_settings):
    client = await serve(fast(make_settings, account_free_failures=3))
    email = new_email()
    assert (await Browser(client).register(email)).status == 201
    replies = await asyncio.gather(*(login(client, email, WRONG if i else STRONG_PASSWORD) for i in range(30)))
    statuses = sorted(r.status for r, _ in replies)
    assert statuses.count(401) + statuses.count(200) <= 4  # 3 free failures (+ the right one if it came early)
    assert statuses.count(429) >= 26


async def trusted_devices(redis, prefix) -> dict:
    """Every account's trusted devices (app.throttle.devices): index key -> token hashes."""
    return {k: set(await redis.zrange(k, 0, -1)) async for k in redis.scan_iter(f"{prefix}:th:ds:*")}


async def test_a_gate_that_shuts_while_the_password_hashes_refuses_the_login_and_writes_nothing(
        serve, make_settings, redis, prefix):
    """The success, the new session and the trusted device are written in one atomic step
    that first re-checks the gate: guesses that shut it while the right password was being
    hashed turn that login into a 429 with no session, no event and no device token, and the
    browser's existing session is left alone."""
    from app.http.appkeys import SERVICES
    from app.passwords.hasher import Verdict
    from app.throttle import Attempt, account_key
    from tests.integration.sessions.helpers import events

    settings = fast(make_settings, account_free_failures=3)
    settings.cookie.name, settings.cookie.secure = "sid", False
    client = await serve(settings)
    services = client.server.app[SERVICES]
    browser = Browser(client, cookie_name="sid")
    email = await browser.signed_up()
    assert (await browser.request("GET", "/auth/session")).status == 200
    user_id = (await (await browser.request("GET", "/auth/session")).json())["user"]["id"]
    sessions_before = await redis.zrange(f"{prefix}:u:{user_id}:s", 0, -1)
    devices_before = await trusted_devices(redis, prefix)
    assert devices_before  # the sign-up login's
    stream_before = len(await events(redis, settings.events.stream))

    verify = services.hasher.verify

    async def verify_while_guessed(stored, password) -> Verdict:
        verdict = await verify(stored, password)
        # Parallel wrong guesses from elsewhere land while this (right) password hashes.
        for _ in range(3):
            await services.throttle.failed(Attempt(account=account_key("user", email), ip="198.51.100.7"))
        return verdict

    services.hasher.verify = verify_while_guessed
    try:
        reply = await browser.request("POST", "/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    finally:
        services.hasher.verify = verify
    assert reply.status == 429 and "sid-device" not in reply.cookies and "sid" not in reply.cookies
    assert await redis.zrange(f"{prefix}:u:{user_id}:s", 0, -1) == sessions_before
    assert await trusted_devices(redis, prefix) == devices_before
    assert len(await events(redis, settings.events.stream)) == stream_before
    assert (await browser.request("GET", "/auth/session")).status == 200  # still logged in
    # The account's counters were not reset by the refused success: still shut.
    with_right = await login(client, email, STRONG_PASSWORD)
    assert with_right[0].status == 429


async def test_signed_in_on_the_trusted_browser_the_owner_can_still_step_up_and_change_the_password(
        serve, make_settings):
    """The password checks of a signed-in user count a trusted device as a login does: an
    attacker holding the account at its block must not lock the owner out of securing it."""
    settings = fast(make_settings, account_free_failures=100, account_block_after=5, ip_free_failures=1000)
    settings.cookie.name, settings.cookie.secure = "sid", False
    client = await serve(settings)
    owner = Browser(client, cookie_name="sid")
    email = await owner.signed_up()
    device = owner.last_set_cookie["sid-device"].value
    for _ in range(5):
        assert (await login(client, email, WRONG))[0].status == 401  # the attacker
    step_up = {"password": STRONG_PASSWORD}
    assert (await owner.request("POST", "/auth/reauthenticate", json=step_up)).status == 429  # no cookie

    def with_device():
        return {"Cookie": f"sid={owner.session_id}; sid-device={device}"}

    stepped = await owner.request("POST", "/auth/reauthenticate", json=step_up, headers=with_device())
    assert stepped.status == 200, await stepped.text()
    owner.csrf = (await stepped.json())["csrf_token"]  # the session rotated
    for _ in range(5):
        assert (await login(client, email, WRONG))[0].status == 401  # the attacker again
    changed = await owner.request("POST", "/auth/password", headers=with_device(), json={
        "current_password": STRONG_PASSWORD, "new_password": "another long passphrase 77"})
    assert changed.status == 204, await changed.text()


async def test_a_device_trusted_for_another_account_does_not_unblock_a_password_check(serve, make_settings):
    settings = fast(make_settings, account_free_failures=100, account_block_after=3, ip_free_failures=1000)
    settings.cookie.name, settings.cookie.secure = "sid", False
    client = await serve(settings)
    thief = Browser(client, cookie_name="sid")
    await thief.signed_up()
    thief_device = thief.last_set_cookie["sid-device"].value
    owner = Browser(client, cookie_name="sid")
    email = await owner.signed_up()
    for _ in range(3):
        await login(client, email, WRONG)
    reply = await owner.request("POST", "/auth/reauthenticate", json={"password": STRONG_PASSWORD},
                                headers={"Cookie": f"sid={owner.session_id}; sid-device={thief_device}"})
    assert reply.status == 429
