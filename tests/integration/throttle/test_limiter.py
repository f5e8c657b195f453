"""The Redis throttle on its own: counting, backoff, block, success, devices, atomicity."""
import asyncio
import hashlib
import time

import pytest

from app.errors import TooManyAttemptsError
from app.services import make_redis
from app.throttle import Attempt, Backoff, RedisThrottle, account_key


@pytest.fixture
async def make_throttle(settings, prefix, redis):
    made = []

    def make(*, free=3, ip_free=50, base=60.0, block_after=0, window=3600) -> RedisThrottle:
        r = make_redis(settings)
        made.append(r)
        return RedisThrottle(
            redis=r, prefix=prefix, device_ttl_s=600,
            account=Backoff(free=free, base_delay_s=base, max_delay_s=900, window_s=window,
                            block_after=block_after),
            ip=Backoff(free=ip_free, base_delay_s=base, max_delay_s=900, window_s=window))
    yield make
    for r in made:
        await r.aclose()


ALICE = account_key("user", "alice@example.com")


async def guess_wrong(throttle, attempt):
    await throttle.check(attempt)
    await throttle.failed(attempt)


async def fail(throttle, attempt, times):
    for _ in range(times):
        await guess_wrong(throttle, attempt)


async def test_free_failures_then_retry_after(make_throttle):
    t = make_throttle(free=3, base=30)
    attempt = Attempt(account=ALICE, ip="198.51.100.1")
    await fail(t, attempt, 3)
    with pytest.raises(TooManyAttemptsError) as caught:
        await guess_wrong(t, attempt)
    assert 29 <= caught.value.retry_after_s <= 30
    assert caught.value.headers["Retry-After"] == str(caught.value.retry_after_s)


async def test_account_counter_ignores_the_source_address(make_throttle):
    t = make_throttle(free=3)
    for i in range(3):
        await guess_wrong(t, Attempt(account=ALICE, ip=f"198.51.100.{i}"))
    with pytest.raises(TooManyAttemptsError):
        await guess_wrong(t, Attempt(account=ALICE, ip="203.0.113.99"))
    # Another account from those addresses is not affected.
    await guess_wrong(t, Attempt(account=account_key("user", "bob@example.com"), ip="198.51.100.1"))


async def test_success_resets_the_account(make_throttle):
    t = make_throttle(free=3)
    attempt = Attempt(account=ALICE, ip="198.51.100.1")
    await fail(t, attempt, 2)
    await t.check(attempt)
    await t.succeeded(attempt)
    await fail(t, attempt, 3)  # three free failures again
    with pytest.raises(TooManyAttemptsError):
        await t.check(attempt)


async def test_spraying_many_accounts_from_one_address_is_slowed(make_throttle):
    t = make_throttle(free=3, ip_free=10)
    for i in range(10):
        await guess_wrong(t, Attempt(account=account_key("user", f"victim{i}@example.com"), ip="198.51.100.7"))
    with pytest.raises(TooManyAttemptsError):
        await guess_wrong(t, Attempt(account=account_key("user", "fresh@example.com"), ip="198.51.100.7"))
    # A success from that address does not wipe its failures (only takes back its own count).
    await guess_wrong(t, Attempt(account=account_key("user", "x@example.com"), ip="198.51.100.8"))


async def test_success_from_a_spraying_address_does_not_reset_it(make_throttle):
    t = make_throttle(free=3, ip_free=5)
    for i in range(4):
        await guess_wrong(t, Attempt(account=account_key("user", f"v{i}@example.com"), ip="198.51.100.7"))
    mine = Attempt(account=account_key("user", "attacker@example.com"), ip="198.51.100.7")
    await t.check(mine)
    await t.succeeded(mine)
    await guess_wrong(t, Attempt(account=account_key("user", "v9@example.com"), ip="198.51.100.7"))
    with pytest.raises(TooManyAttemptsError):
        await guess_wrong(t, Attempt(account=account_key("user", "v10@example.com"), ip="198.51.100.7"))


async def test_block_after_n_consecutive_failures_until_the_window_passes(make_throttle):
    t = make_throttle(free=1000, block_after=5, window=2)
    attempt = Attempt(account=ALICE, ip="198.51.100.1")
    await fail(t, attempt, 5)
    with pytest.raises(TooManyAttemptsError) as caught:
        await guess_wrong(t, Attempt(account=ALICE, ip="203.0.113.5"))
    assert caught.value.retry_after_s <= 2
    await asyncio.sleep(2.1)
    await guess_wrong(t, attempt)  # not permanent


async def test_refused_attempts_are_not_counted(make_throttle):
    """Hammering a throttled account must not push its block further out."""
    t = make_throttle(free=1, base=1)
    attempt = Attempt(account=ALICE, ip="198.51.100.1")
    await guess_wrong(t, attempt)
    for _ in range(20):
        with pytest.raises(TooManyAttemptsError):
            await guess_wrong(t, attempt)
    await asyncio.sleep(1.05)
    await guess_wrong(t, attempt)


async def test_a_trusted_device_gets_past_a_blocked_account(make_throttle):
    t = make_throttle(free=100, block_after=4)
    device = await t.trust_device(ALICE)
    await fail(t, Attempt(account=ALICE, ip="203.0.113.66"), 4)
    with pytest.raises(TooManyAttemptsError):
        await guess_wrong(t, Attempt(account=ALICE, ip="198.51.100.1"))
    owner = Attempt(account=ALICE, ip="198.51.100.1", device=device)
    assert await t.check(owner) is True
    await t.succeeded(owner)
    # Success through the device resets the account for everyone.
    await guess_wrong(t, Attempt(account=ALICE, ip="198.51.100.1"))


async def test_a_device_token_of_another_account_or_made_up_is_worthless(make_throttle):
    t = make_throttle(free=2)
    mallory_device = await t.trust_device(account_key("user", "mallory@example.com"))
    await fail(t, Attempt(account=ALICE, ip="203.0.113.66"), 2)
    for device in (mallory_device, "made-up-token"):
        with pytest.raises(TooManyAttemptsError):
            await guess_wrong(t, Attempt(account=ALICE, ip="203.0.113.66", device=device))


async def test_a_device_has_its_own_backoff(make_throttle):
    t = make_throttle(free=2)
    device = await t.trust_device(ALICE)
    stolen = Attempt(account=ALICE, ip="203.0.113.66", device=device)
    await fail(t, stolen, 2)
    with pytest.raises(TooManyAttemptsError):
        await t.check(stolen)


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def test_trusting_again_keeps_the_token(make_throttle, redis, prefix):
    t = make_throttle()
    device = await t.trust_device(ALICE)
    index = f"{prefix}:th:ds:{sha(ALICE)}"  # the account's devices: token hash -> expiry
    await redis.zadd(index, {sha(device): time.time() + 5})
    assert await t.trust_device(ALICE, device) == device
    # Its life was extended, and no second token stored.
    assert 590 <= await redis.zscore(index, sha(device)) - time.time() <= 600
    assert await redis.zcard(index) == 1 and 590 <= await redis.ttl(index) <= 601
    # Presented for another account (a shared computer): that account gets its own token,
    # and the first one is neither extended nor rebound.
    await redis.zadd(index, {sha(device): time.time() + 5})
    bob = await t.trust_device(account_key("user", "bob@example.com"), device)
    assert bob != device and await redis.zscore(index, sha(device)) - time.time() <= 5
    assert await t.trust_device(ALICE, device) == device
    assert await t.trust_device(ALICE, "never-issued") not in (device, bob, "never-issued")


async def test_parallel_guesses_learn_no_more_than_sequential_ones(make_throttle):
    """40 concurrent wrong guesses over four "web processes": all pass the cheap
    pre-check, but the outcome is recorded atomically with the gate, so only the
    3 free failures get an answer; every other one is refused (429) whatever it was."""
    throttles = [make_throttle(free=3) for _ in range(4)]
    attempt = Attempt(account=ALICE, ip="198.51.100.1")

    async def guess(t):
        await t.check(attempt)
        await asyncio.sleep(0.05)  # the password hash
        await t.failed(attempt)

    results = await asyncio.gather(*(guess(throttles[i % 4]) for i in range(40)), return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, Exception)) == 3
    assert all(isinstance(r, TooManyAttemptsError) for r in results if isinstance(r, Exception))


async def test_a_right_guess_finishing_after_the_gate_shut_is_refused(make_throttle):
    t = make_throttle(free=3)
    attempt = Attempt(account=ALICE, ip="198.51.100.1")
    await t.check(attempt)  # the right password, still hashing ...
    await fail(t, attempt, 3)  # ... while three wrong ones land
    with pytest.raises(TooManyAttemptsError):
        await t.succeeded(attempt)


async def test_concurrent_right_logins_are_all_admitted(make_throttle):
    t = make_throttle(free=3)
    attempt = Attempt(account=ALICE, ip="198.51.100.1")

    async def login():
        await t.check(attempt)
        await t.succeeded(attempt)

    await asyncio.gather(*(login() for _ in range(30)))


async def test_lock_account_false_keeps_per_source_limits_only(make_throttle):
    t = make_throttle(free=2)
    client = account_key("client", "svc")
    await fail(t, Attempt(account=client, ip="203.0.113.66", lock_account=False), 2)
    with pytest.raises(TooManyAttemptsError):
        await guess_wrong(t, Attempt(account=client, ip="203.0.113.66", lock_account=False))
    await guess_wrong(t, Attempt(account=client, ip="198.51.100.1", lock_account=False))


async def test_no_email_in_redis(make_throttle, redis, prefix):
    t = make_throttle()
    await guess_wrong(t, Attempt(account=ALICE, ip="198.51.100.1"))
    await t.trust_device(ALICE)
    keys = [k async for k in redis.scan_iter(f"{prefix}:th:*")]
    assert keys and not any("alice" in k for k in keys)
    for k in keys:
        kind = await redis.type(k)
        value = (await redis.hgetall(k) if kind == "hash" else await redis.zrange(k, 0, -1) if kind == "zset"
                 else await redis.get(k))
        assert "alice" not in str(value)
