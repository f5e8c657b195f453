"""The throttle: per account, per IP and per IP+account failure counters in Redis.

Model (every web process shares it; one Lua call decides and counts atomically):
  - ``check`` (before the secret is verified) refuses with
    TooManyAttemptsError(retry_after_s) while any counter that applies is backing
    off, so a throttled caller costs no hashing.
  - ``failed`` / ``succeeded`` record the outcome, and re-evaluate the gate in the
    same atomic step: if it shut meanwhile (parallel guesses), they raise the same
    TooManyAttemptsError and record nothing, so the caller answers 429 whether the
    secret was right or wrong. A burst of N parallel guesses learns no more
    outcomes than N sequential ones would.
  - ``succeeded`` clears the account-side counters; the per-IP one is kept.
    ``success_commit`` is the same write (and a device trust) for a caller's own
    script: a password login records its success in the script that writes its
    session, so the session exists only if the gate was still open.
  - per account (keyed by the normalized name, never the IP, so rotating
    addresses changes nothing): ``account_free_failures`` free, then exponential
    backoff, and at ``account_block_after`` (100, NIST SP 800-63B) a block until
    ``window_s`` after the last failure. Never permanent.
  - per IP (IPv6 per /64): ``ip_free_failures`` free, then backoff; this is what
    slows password spraying over many accounts from one address.
  - per IP+account: the same limits as the account, per source.
  - trusted device: a successful login may be given a device token (a cookie);
    attempts presenting it for the same account are counted on their own
    counter instead of the account and IP+account ones. That is the owner's
    way in while an attacker holds the account's counter at its block.

Keys (``p`` the Redis prefix; names are SHA-256 so no email sits in Redis):
  p:th:a:<h>  p:th:ia:<h>  p:th:i:<h>  p:th:dc:<h>  counters {n, last}
  p:th:d:<h>  device token hash -> account hash, expires after ``device_ttl_s``
"""
from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Callable, Protocol

from redis.asyncio import Redis

from app.clock import now_s
from app.errors import TooManyAttemptsError
from app.throttle import scripts
from app.throttle.attempt import Attempt, ip_bucket
from app.throttle.policy import Backoff

security_log = logging.getLogger("app.security")
DEVICE_TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class IpGate:
    """The per-IP counter of an attempt that names no account, for a script of another
    module to check in its own atomic step (``scripts.COUNTER_WAIT``): ``args`` are
    free, block_after, base delay, max delay and window."""

    key: str
    args: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class SuccessCommit:
    """A right secret's outcome, for another module's script to record in its own atomic
    step (``scripts.GATE_FUNCTION`` in 'succeed' mode, then, if ``device_keys``,
    ``scripts.TRUST_DEVICE_FUNCTION``): a login's session is written only if the gate is
    still open, in the same round trip that resets the counters and trusts the device."""

    gate_keys: list[str]
    gate_args: list
    device_keys: list[str]  # empty: no device to trust
    device_args: list
    new_device: str  # the token stored if the presented one is not bound to the account
    presented_device: str | None
    refusal: "Callable[[int], TooManyAttemptsError]"

    def device_token(self, kept: bool) -> str | None:
        if not self.device_keys:
            return None
        return self.presented_device if kept else self.new_device


class Throttle(Protocol):
    async def check(self, attempt: Attempt) -> bool:
        """Before checking a secret: True if it came from a trusted device.

        :raises TooManyAttemptsError: a counter is backing off; nothing was recorded.
        """

    async def failed(self, attempt: Attempt) -> None:
        """Record a wrong secret. :raises TooManyAttemptsError: the gate shut meanwhile."""

    async def succeeded(self, attempt: Attempt) -> None:
        """Record a right secret (resets the account side).

        :raises TooManyAttemptsError: the gate shut meanwhile; the caller must refuse.
        """

    async def trust_device(self, account: str, current: str | None = None) -> str:
        """A device token bound to ``account`` (the caller stores it in a cookie)."""

    def ip_gate(self, ip: str) -> IpGate:
        """What ``check(Attempt(account=None, ip=ip))`` reads, for a caller's own script."""

    def success_commit(self, attempt: Attempt, trust_account: str | None = None,
                       presented_device: str | None = None) -> SuccessCommit:
        """What ``succeeded(attempt)`` (and ``trust_device(trust_account, presented_device)``)
        would write, for a caller's own script to write with its own change."""

    def refusal(self, wait_ms: int) -> TooManyAttemptsError:
        """The error for a gate found shut ``wait_ms`` from now."""


@functools.lru_cache(maxsize=8192)  # two gate calls per login hash the same names
def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class RedisThrottle:
    def __init__(self, *, redis: Redis, prefix: str, account: Backoff, ip: Backoff,
                 device_ttl_s: int) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:th:"
        self.account = account
        self.ip = ip
        self.device_ttl_s = device_ttl_s
        self._script = redis.register_script(scripts.GATE)
        self._trust_device = redis.register_script(scripts.TRUST_DEVICE)

    def _counters(self, attempt: Attempt) -> list[tuple[str, Backoff, str]]:
        """(key, limits, class) of every counter the attempt may touch."""
        p = self.prefix
        counters = [(f"{p}i:{_h(ip_bucket(attempt.ip))}", self.ip, "a")]
        if attempt.account is None:
            return counters
        account = _h(attempt.account)
        side = "n" if attempt.device else "a"
        if attempt.lock_account:
            counters.append((f"{p}a:{account}", self.account, side))
        # The IP+account counter never blocks outright: the account counter does.
        per_source = Backoff(free=self.account.free, base_delay_s=self.account.base_delay_s,
                             max_delay_s=self.account.max_delay_s, window_s=self.account.window_s)
        counters.append((f"{p}ia:{_h(ip_bucket(attempt.ip) + '|' + attempt.account)}", per_source, side))
        if attempt.device:
            counters.append((f"{p}dc:{_h(attempt.device)}", self.account, "d"))
        return counters

    def _device_key(self, device: str | None) -> str:
        # Without a device the script still needs a key; this one is never written.
        return f"{self.prefix}d:{_h(device) if device else 'none'}"

    def _gate_call(self, mode: str, attempt: Attempt) -> tuple[list[str], list]:
        """The keys and arguments of ``scripts.GATE_FUNCTION`` for this attempt."""
        counters = self._counters(attempt)
        args: list = [mode, repr(now_s()), _h(attempt.account) if attempt.account and attempt.device else ""]
        for i, (_, b, cls) in enumerate(counters):
            # counters[0] is the per-IP one: kept on success.
            args += [b.free, b.block_after, b.base_delay_s, b.max_delay_s, b.window_s, cls,
                     "keep" if i == 0 else "reset"]
        return [self._device_key(attempt.device), *(k for k, _, _ in counters)], args

    async def _gate(self, mode: str, attempt: Attempt) -> bool:
        keys, args = self._gate_call(mode, attempt)
        wait_ms, trusted = await self._script(keys=keys, args=args)
        if int(wait_ms) > 0:
            raise self.refusal(int(wait_ms))
        return bool(int(trusted))

    def _device_call(self, account: str, presented: str | None) -> tuple[list[str], list, str]:
        """The keys and arguments of ``scripts.TRUST_DEVICE_FUNCTION``, and the new token it stores
        unless ``presented`` is already bound to ``account``."""
        token = secrets.token_urlsafe(DEVICE_TOKEN_BYTES)
        return [self._device_key(presented), self._device_key(token)], [_h(account), self.device_ttl_s], token

    def success_commit(self, attempt: Attempt, trust_account: str | None = None,
                       presented_device: str | None = None) -> SuccessCommit:
        gate_keys, gate_args = self._gate_call("succeed", attempt)
        device_keys, device_args, new_device = ([], [], "") if trust_account is None else \
            self._device_call(trust_account, presented_device)
        return SuccessCommit(gate_keys, gate_args, device_keys, device_args, new_device, presented_device,
                             self.refusal)

    def ip_gate(self, ip: str) -> IpGate:
        (key, b, _), = self._counters(Attempt(account=None, ip=ip))
        return IpGate(key, (b.free, b.block_after, b.base_delay_s, b.max_delay_s, b.window_s))

    def refusal(self, wait_ms: int) -> TooManyAttemptsError:
        security_log.info("attempt throttled for %d ms", wait_ms)
        return TooManyAttemptsError(retry_after_s=-(-wait_ms // 1000))

    async def check(self, attempt: Attempt) -> bool:
        return await self._gate("check", attempt)

    async def failed(self, attempt: Attempt) -> None:
        await self._gate("fail", attempt)

    async def succeeded(self, attempt: Attempt) -> None:
        await self._gate("succeed", attempt)

    async def trust_device(self, account: str, current: str | None = None) -> str:
        """Bind a device token to ``account``: ``current`` if it already is (its life is
        extended), else a new one, so repeated logins do not pile up tokens."""
        keys, args, token = self._device_call(account, current)
        return current if int(await self._trust_device(keys=keys, args=args)) else token

    async def forget_device(self, token: str) -> None:
        await self.redis.delete(self._device_key(token))
