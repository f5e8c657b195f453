"""argon2id hasher: OWASP floor, verdicts, rehash, the dummy hash for unknown accounts, bounded queueing."""
import asyncio
import threading

from argon2 import PasswordHasher, Type

from app.errors import OverloadedError
from app.passwords.hasher import Argon2Hasher


async def test_hash_is_argon2id_at_the_owasp_floor():
    hasher = Argon2Hasher()
    try:
        encoded = await hasher.hash("correct horse battery staple")
        assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert (await hasher.verify(encoded, "correct horse battery staple")).ok
        assert not (await hasher.verify(encoded, "correct horse battery stapler")).ok
    finally:
        hasher.close()


async def test_unknown_account_fails_even_for_the_dummy_password():
    hasher = Argon2Hasher()
    try:
        verdict = await hasher.verify(None, "dummy password for absent accounts")
        assert verdict.ok is False
    finally:
        hasher.close()


async def test_weaker_parameters_need_rehash():
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID).hash("a password here 1")
    hasher = Argon2Hasher()
    try:
        verdict = await hasher.verify(weak, "a password here 1")
        assert verdict.ok and verdict.needs_rehash
    finally:
        hasher.close()


async def test_hashing_runs_off_the_loop_thread():
    hasher = Argon2Hasher()
    seen: list[str] = []
    original = hasher.hash_sync

    def spy(password):
        seen.append(threading.current_thread().name)
        return original(password)

    hasher.hash_sync = spy
    try:
        await hasher.hash("some long password")
        assert seen and seen[0].startswith("argon2") and seen[0] != threading.main_thread().name
    finally:
        hasher.close()


PASSWORD = "a password here 1"


async def _burst(hasher: Argon2Hasher, n: int) -> tuple[str, list]:
    """n verifies of one hash at once; returns the hash and each verdict or error."""
    encoded = hasher.hash_sync(PASSWORD)
    return encoded, await asyncio.gather(*[hasher.verify(encoded, PASSWORD) for _ in range(n)],
                                         return_exceptions=True)


async def test_a_burst_past_the_wait_bound_is_refused_at_once_not_queued():
    # One thread and a bound below one hash: the first is admitted, the rest would wait behind it.
    hasher = Argon2Hasher(threads=1, max_wait_s=0.001)
    try:
        encoded, outcomes = await _burst(hasher, 20)
        admitted = [o for o in outcomes if not isinstance(o, Exception)]
        refused = [o for o in outcomes if isinstance(o, OverloadedError)]
        assert len(admitted) == 1 and admitted[0].ok
        assert len(refused) == 19 and all(int(e.headers["Retry-After"]) >= 1 for e in refused)
        assert hasher.pending == 0  # nothing left queued
        assert (await hasher.verify(encoded, PASSWORD)).ok  # admitted again once drained
    finally:
        hasher.close()


async def test_without_a_bound_every_hash_queues():
    hasher = Argon2Hasher(threads=1, max_wait_s=0)
    try:
        _, verdicts = await _burst(hasher, 5)
        assert all(not isinstance(v, Exception) and v.ok for v in verdicts) and hasher.pending == 0
    finally:
        hasher.close()


async def test_callers_cancelled_while_queued_leave_no_phantom_wait():
    """A cancelled caller's queued job never runs; it must still leave the count, or the
    bound would refuse ever more logins for work that no longer exists."""
    hasher = Argon2Hasher(threads=1, max_wait_s=0)
    try:
        encoded = await hasher.hash("correct horse battery staple")
        waiting = [asyncio.create_task(hasher.verify(encoded, "correct horse battery staple")) for _ in range(4)]
        await asyncio.sleep(0.005)  # the first is hashing, the other three queued
        for task in waiting[1:]:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        assert waiting[0].result().ok
        assert hasher.pending == 0
    finally:
        hasher.close()
