"""README, Throttling: a trusted device gets its holder past a held account, so the owner's
remedies end every device a password thief collected: a password change and MFA enrolment (all
but the caller's own browser), a forced logout and a disable. No account trusts more than
``throttle.max_devices`` at once, and Redis keeps only SHA-256 of their tokens, in keys that expire."""
import hashlib
import time

import pytest

from app.http.appkeys import SERVICES
from app.services import make_redis
from app.sessions.manager import ClientInfo
from app.throttle import Attempt, Backoff, RedisThrottle, account_key
from tests.integration.mfa.helpers import code_at, enrol, mfa_settings, password_step
from tests.support.browser import STRONG_PASSWORD, Browser, new_email

NEW_PASSWORD = "another long passphrase 77"
WRONG = "definitely not the password 1"


def throttled(make_settings, **throttle):
    """One free failure per account (or device), then a minute's wait: the account is easily held."""
    return mfa_settings(make_settings, throttle={"account_free_failures": 1, "account_block_after": 100,
                                                 "base_delay_s": 60, "ip_free_failures": 1000, **throttle})


def device_of(reply) -> str:
    for header in reply.headers.getall("Set-Cookie", []):
        if header.startswith("sid-device="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError("no device cookie")


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def mint_devices(client, email, n, password=STRONG_PASSWORD):
    """A password thief's logins from fresh browsers: one device token each."""
    devices = []
    for _ in range(n):
        reply = await client.post("/auth/login", json={"email": email, "password": password})
        assert reply.status == 200, await reply.text()
        devices.append(device_of(reply))
    assert len(set(devices)) == n
    return devices


async def guess(client, email, device=None, password=WRONG) -> int:
    headers = {"Cookie": f"sid-device={device}"} if device else None
    return (await client.post("/auth/login", json={"email": email, "password": password}, headers=headers)).status


async def hold_the_account(client, email) -> None:
    assert await guess(client, email) == 401  # the one free failure
    assert await guess(client, email) == 429  # held: only a trusted device gets a guess checked


async def owner_and_thief_devices(client, n=3) -> tuple[Browser, str, str, list[str]]:
    """(owner's browser, email, the owner's device, the thief's devices)."""
    owner = Browser(client, cookie_name="sid")
    email = await owner.signed_up()
    return owner, email, owner.last_set_cookie["sid-device"].value, await mint_devices(client, email, n)


async def admin_of(client) -> Browser:
    email = new_email()
    await client.server.app[SERVICES].accounts.register(email, STRONG_PASSWORD, ClientInfo(), roles=("admin",))
    admin = Browser(client, cookie_name="sid")
    assert (await admin.login(email)).status == 200
    return admin


async def user_id_of(browser: Browser) -> str:
    return (await (await browser.request("GET", "/auth/session")).json())["user"]["id"]


# -- the owner's remedies ---------------------------------------------------------------------

async def test_a_password_change_ends_the_devices_a_thief_collected_but_not_the_callers_own(
        serve, make_settings):
    client = await serve(throttled(make_settings))
    owner, email, mine, stolen = await owner_and_thief_devices(client)
    # The owner notices and changes the password, from the browser that holds their device.
    changed = await owner.request("POST", "/auth/password", headers={
        "Cookie": f"sid={owner.session_id}; sid-device={mine}"},
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status == 204, await changed.text()
    await hold_the_account(client, email)
    assert [await guess(client, email, d) for d in stolen] == [429, 429, 429], (
        "devices minted under the old password still had guesses at the new one checked")
    # The owner's browser still gets past the account the thief holds.
    assert await guess(client, email, mine, password=NEW_PASSWORD) == 200


async def test_a_password_change_without_a_device_ends_them_all(serve, make_settings):
    client = await serve(throttled(make_settings))
    owner, email, mine, stolen = await owner_and_thief_devices(client)
    changed = await owner.request("POST", "/auth/password", json={"current_password": STRONG_PASSWORD,
                                                                   "new_password": NEW_PASSWORD})
    assert changed.status == 204, await changed.text()
    await hold_the_account(client, email)
    assert [await guess(client, email, d) for d in [*stolen, mine]] == [429, 429, 429, 429]


async def test_mfa_enrolment_ends_the_devices_a_password_alone_earned(serve, make_settings):
    client = await serve(throttled(make_settings))
    owner, email, _, stolen = await owner_and_thief_devices(client)
    secret, _ = await enrol(owner)
    wrong_code = "000000" if code_at(secret) != "000000" else "111111"

    async def guess_code(device=None):
        token = await password_step(client, email, STRONG_PASSWORD)
        headers = {"Cookie": f"sid-device={device}"} if device else None
        reply = await client.post("/auth/login/mfa", json={"mfa_token": token, "code": wrong_code},
                                  headers=headers)
        return reply.status

    assert await guess_code() == 401  # the per-user code counter's one free failure
    assert await guess_code() == 429  # the per-user code counter is shut
    assert [await guess_code(d) for d in stolen] == [429, 429, 429], (
        "devices trusted by password-only logins before MFA was enrolled got codes checked "
        "past the per-user code counter")


async def test_a_password_login_that_read_the_account_before_mfa_enrolment_trusts_no_device(
        serve, make_settings):
    """The race: a thief's password-only login is hashing when the owner's enrolment commits
    (and revokes the devices). Its device is written after the revocation, but was earned with
    the password alone, so it must not count."""
    client = await serve(throttled(make_settings))
    owner, email, _, _ = await owner_and_thief_devices(client, n=0)
    setup = await owner.request("POST", "/auth/mfa/totp/setup")
    secret = (await setup.json())["secret"]
    services = client.server.app[SERVICES]
    verify = services.hasher.verify

    async def verify_while_enrolled(stored, password):
        verdict = await verify(stored, password)
        services.hasher.verify = verify
        confirmed = await owner.request("POST", "/auth/mfa/totp/confirm", json={"code": code_at(secret)})
        assert confirmed.status == 200, await confirmed.text()
        return verdict

    services.hasher.verify = verify_while_enrolled
    try:
        raced = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    finally:
        services.hasher.verify = verify
    # Enrolment ends every login the password alone opened, this one included: it read the
    # account before the enrolment's epoch, so it gets no session, and no device with it.
    assert raced.status == 401, await raced.text()
    assert not [h for h in raced.headers.getall("Set-Cookie", []) if h.startswith(("sid=", "sid-device="))]


async def test_a_forced_logout_ends_the_users_devices(serve, make_settings):
    client = await serve(throttled(make_settings))
    owner, email, mine, stolen = await owner_and_thief_devices(client)
    admin = await admin_of(client)
    assert (await admin.request("POST", f"/admin/users/{await user_id_of(owner)}/logout")).status == 202
    await hold_the_account(client, email)
    assert [await guess(client, email, d) for d in [*stolen, mine]] == [429, 429, 429, 429]


async def test_disabling_ends_the_users_devices_for_good(serve, make_settings):
    client = await serve(throttled(make_settings))
    owner, email, mine, stolen = await owner_and_thief_devices(client)
    user_id = await user_id_of(owner)
    admin = await admin_of(client)
    assert (await admin.request("POST", f"/admin/users/{user_id}/disable")).status == 202
    assert (await admin.request("POST", f"/admin/users/{user_id}/enable")).status == 204
    await hold_the_account(client, email)
    assert [await guess(client, email, d) for d in [*stolen, mine]] == [429, 429, 429, 429]


# -- the cap ----------------------------------------------------------------------------------

async def test_an_account_trusts_at_most_max_devices_and_the_oldest_go_first(serve, make_settings, redis, prefix):
    client = await serve(throttled(make_settings, max_devices=3))
    owner, email, mine, stolen = await owner_and_thief_devices(client, n=4)
    index = f"{prefix}:th:ds:{sha(account_key('user', email))}"
    # Only SHA-256 of the newest three tokens is kept: no token at rest, and no fourth budget.
    assert set(await redis.zrange(index, 0, -1)) == {sha(d) for d in stolen[1:]}
    await hold_the_account(client, email)
    assert [await guess(client, email, d) for d in [mine, *stolen]] == [429, 429, 401, 401, 401]


def test_max_devices_is_bounded(make_settings):
    from pydantic import ValidationError

    assert make_settings().throttle.max_devices == 20
    for value in (0, 1001):
        with pytest.raises(ValidationError):
            make_settings(throttle={"max_devices": value})


# -- the store on its own ---------------------------------------------------------------------

ALICE = account_key("user", "alice@example.com")


@pytest.fixture
async def make_throttle(settings, prefix, redis):
    made = []

    def make(*, max_devices=5, device_ttl_s=600) -> RedisThrottle:
        r = make_redis(settings)
        made.append(r)
        limits = Backoff(free=1, base_delay_s=60, max_delay_s=900, window_s=3600)
        return RedisThrottle(redis=r, prefix=prefix, account=limits, ip=limits, device_ttl_s=device_ttl_s,
                             max_devices=max_devices)
    yield make
    for r in made:
        await r.aclose()


async def trusted(t: RedisThrottle, device: str, account: str = ALICE) -> bool:
    return await t.check(Attempt(account=account, ip="198.51.100.1", device=device))


async def test_the_index_is_bounded_and_expires_with_its_newest_device(make_throttle, redis, prefix):
    t = make_throttle(max_devices=5, device_ttl_s=600)
    devices = [await t.trust_device(ALICE) for _ in range(30)]
    index = f"{prefix}:th:ds:{sha(ALICE)}"
    assert await redis.zcard(index) == 5
    assert 590 <= await redis.ttl(index) <= 601
    assert [await trusted(t, d) for d in devices[-6:]] == [False] + [True] * 5
    # Nothing else is written per device, and no token is stored in plain.
    keys = {k async for k in redis.scan_iter(f"{prefix}:th:*")}
    assert keys == {index}
    assert not set(devices) & set(await redis.zrange(index, 0, -1))


async def test_an_expired_device_is_not_trusted_and_is_dropped(make_throttle, redis, prefix):
    t = make_throttle()
    old = await t.trust_device(ALICE)
    index = f"{prefix}:th:ds:{sha(ALICE)}"
    await redis.zadd(index, {sha(old): time.time() - 1})  # its life is over
    assert not await trusted(t, old)
    assert await t.trust_device(ALICE, old) != old  # not revived by presenting it
    assert sha(old) not in await redis.zrange(index, 0, -1)


async def test_revoking_keeps_only_the_callers_device_and_leaves_a_mark_that_expires(make_throttle, redis, prefix):
    t = make_throttle(device_ttl_s=600)
    mine, *others = [await t.trust_device(ALICE) for _ in range(3)]
    bob = await t.trust_device(account_key("user", "bob@example.com"))
    assert await t.revoke_devices(ALICE, keep=mine) == 2
    assert [await trusted(t, d) for d in [mine, *others]] == [True, False, False]
    assert await trusted(t, bob, account_key("user", "bob@example.com"))  # other accounts untouched
    # A device of another account is not "kept" for this one.
    assert await t.revoke_devices(ALICE, keep=bob) == 1
    assert not await trusted(t, mine)
    assert not await redis.exists(f"{prefix}:th:ds:{sha(ALICE)}")
    assert 590 <= await redis.ttl(f"{prefix}:th:dr:{sha(ALICE)}") <= 600


async def test_a_login_that_read_the_credentials_before_a_revocation_trusts_nothing(make_throttle):
    t = make_throttle()
    read_at = time.time()
    await t.revoke_devices(ALICE)
    raced = await t.trust_device(ALICE, since=read_at)
    assert not await trusted(t, raced)
    assert await trusted(t, await t.trust_device(ALICE))  # read after it: trusted as ever
