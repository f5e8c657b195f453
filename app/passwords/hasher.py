"""argon2id hashing off the event loop, with a rehash verdict."""
from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.errors import OverloadedError


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    needs_rehash: bool = False


def _yield_to_the_event_loop(nice: int) -> None:
    """Lower this hashing thread's CPU priority (Linux schedules threads one by one).

    A login storm keeps every core busy hashing; at equal priority the event
    loop waits its turn behind the hashes and every session check's latency
    grows. At a lower priority the hashes take only the CPU the loop leaves, so
    the pool can still use all cores without starving the requests.
    """
    if nice and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError:  # not permitted in some sandboxes: run at normal priority
            pass


class Argon2Hasher:
    """argon2id with OWASP-floor defaults; every hash and verify runs in a thread
    pool (argon2-cffi releases the GIL), so the event loop never blocks.

    Admission is bounded by time: a hash whose wait behind the queued ones would exceed
    ``max_wait_s`` is refused at once (OverloadedError, 503 with Retry-After) instead of
    queued. Under a flood of logins from many addresses (which per-address throttles let
    through) the queue otherwise grows without bound: every login waits behind it, and
    the CPU goes to requests whose clients gave up long ago. 0 admits everything.
    """

    def __init__(self, *, time_cost: int = 2, memory_kib: int = 19456, parallelism: int = 1,
                 threads: int = 2, nice: int = 10, max_wait_s: float = 5.0) -> None:
        self._ph = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                  parallelism=parallelism, type=Type.ID)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2",
                                        initializer=_yield_to_the_event_loop, initargs=(nice,))
        self._threads = threads
        self._max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._pending = 0  # submitted and not finished (queued or hashing)
        started = time.perf_counter()
        # Unknown accounts pay for a verify against this, so timing does not
        # tell whether an email is registered.
        self._dummy = self._ph.hash("dummy password for absent accounts")
        self._hash_s = time.perf_counter() - started  # a first estimate; then a moving average

    @property
    def pending(self) -> int:
        return self._pending

    def _expected_wait_s(self) -> float:
        return self._pending / self._threads * self._hash_s

    async def _run(self, work, *args):
        if self._max_wait_s:
            wait = self._expected_wait_s()
            if wait > self._max_wait_s:
                raise OverloadedError(retry_after_s=math.ceil(wait - self._max_wait_s))
        with self._lock:
            self._pending += 1
        try:
            job = self._pool.submit(self._timed, work, *args)
        except BaseException:
            self._finished(None)
            raise
        # Counted out when the job ends in any way: a caller cancelled while its job was still
        # queued cancels the job too, and it never runs (nor would code at its end).
        job.add_done_callback(self._finished)
        return await asyncio.wrap_future(job)

    def _timed(self, work, *args):
        # In the hashing thread: the job is done when the hash is, whether or not its caller still waits.
        started = time.perf_counter()
        try:
            return work(*args)
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self._hash_s += (elapsed - self._hash_s) * 0.2

    def _finished(self, _job) -> None:
        with self._lock:
            self._pending -= 1

    def hash_sync(self, password: str) -> str:
        return self._ph.hash(password)

    def verify_sync(self, encoded: str | None, password: str) -> Verdict:
        try:
            self._ph.verify(encoded or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verdict(ok=False)
        if encoded is None:
            return Verdict(ok=False)
        return Verdict(ok=True, needs_rehash=self._ph.check_needs_rehash(encoded))

    async def hash(self, password: str) -> str:
        """:raises OverloadedError: the queue is longer than ``max_wait_s`` of hashing."""
        return await self._run(self.hash_sync, password)

    async def verify(self, encoded: str | None, password: str) -> Verdict:
        """Verify ``password``; ``encoded=None`` (no such account) costs the same and fails.

        :raises OverloadedError: the queue is longer than ``max_wait_s`` of hashing (decided
            before any account is looked at, so it tells nothing about one)."""
        return await self._run(self.verify_sync, encoded, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
