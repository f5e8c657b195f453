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
    way in while an attacker holds the account's counter at its block. An
    account trusts at most ``max_devices`` (the oldest go), each for
    ``device_ttl_s``, and ``revoke_devices`` ends them all at once (a password
    change, MFA enrolment, a forced logout): a password thief's devices do not
    outlive the owner's remedy (``app.throttle.devices``).

Keys (``p`` the Redis prefix; names are SHA-256 so no email sits in Redis):
  p:th:a:<h>  p:th:ia:<h>  p:th:i:<h>  p:th:dc:<h>  counters {n, last}
  p:th:ds:<h>  p:th:dr:<h>  an account's trusted devices (app.throttle.devices)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Protocol

from redis.asyncio import Redis

from app.clock import now_s
from app.errors import TooManyAttemptsError
from app.throttle import scripts
from app.throttle.attempt import Attempt, ip_bucket
from app.throttle.attempt import sha256_hex as _h
from app.throttle.devices import DEVICE_TOKEN_BYTES, TrustedDeviceStore
from app.throttle.policy import Backoff

__all__ = ["DEVICE_TOKEN_BYTES", "IpGate", "RedisThrottle", "SuccessCommit", "Throttle"]

security_log = logging.getLogger("app.security")


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
    ``scripts.TRUST_DEVICE_FUNCTION``, whose two keys and two arguments these are): a login's
    session is written only if the gate is still open, in the same round trip that resets the
    counters and trusts the device."""

    gate_keys: list[str]
    gate_args: list
    device_keys: list[str]  # empty: no device to trust
    device_args: list
    new_device: str  # the token stored if the presented one is not trusted for the account
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

    async def trust_device(self, account: str, current: str | None = None, since: float | None = None) -> str:
        """A device token trusted for ``account`` (the caller stores it in a cookie); ``since``:
        when the credentials that earned it were read (default now)."""

    async def revoke_devices(self, account: str, keep: str | None = None) -> int:
        """Stop trusting every device of ``account`` but ``keep`` (if trusted for it); a login
        whose credentials were read before this call trusts none. Returns how many stopped."""

    def ip_gate(self, ip: str) -> IpGate:
        """What ``check(Attempt(account=None, ip=ip))`` reads, for a caller's own script."""

    def success_commit(self, attempt: Attempt, trust_account: str | None = None,
                       presented_device: str | None = None, since: float | None = None) -> SuccessCommit:
        """What ``succeeded(attempt)`` (and ``trust_device(trust_account, presented_device, since)``)
        would write, for a caller's own script to write with its own change."""

    def refusal(self, wait_ms: int) -> TooManyAttemptsError:
        """The error for a gate found shut ``wait_ms`` from now."""


class RedisThrottle:
    def __init__(self, *, redis: Redis, prefix: str, account: Backoff, ip: Backoff,
                 device_ttl_s: int, max_devices: int = 20) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:th:"
        self.account = account
        self.ip = ip
        self.devices = TrustedDeviceStore(redis=redis, prefix=self.prefix, ttl_s=device_ttl_s,
                                          max_devices=max_devices)
        self._script = redis.register_script(scripts.GATE)

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

    def _gate_call(self, mode: str, attempt: Attempt) -> tuple[list[str], list]:
        """The keys and arguments of ``scripts.GATE_FUNCTION`` for this attempt."""
        counters = self._counters(attempt)
        device = attempt.device if attempt.account else None
        args: list = [mode, repr(now_s()), _h(device) if device else ""]
        for i, (_, b, cls) in enumerate(counters):
            # counters[0] is the per-IP one: kept on success.
            args += [b.free, b.block_after, b.base_delay_s, b.max_delay_s, b.window_s, cls,
                     "keep" if i == 0 else "reset"]
        return [self.devices.index_key(attempt.account if device else None),
                *(k for k, _, _ in counters)], args

    async def _gate(self, mode: str, attempt: Attempt) -> bool:
        keys, args = self._gate_call(mode, attempt)
        wait_ms, trusted = await self._script(keys=keys, args=args)
        if int(wait_ms) > 0:
            raise self.refusal(int(wait_ms))
        return bool(int(trusted))

    def success_commit(self, attempt: Attempt, trust_account: str | None = None,
                       presented_device: str | None = None, since: float | None = None) -> SuccessCommit:
        gate_keys, gate_args = self._gate_call("succeed", attempt)
        device_keys, device_args, new_device = ([], [], "") if trust_account is None else \
            self.devices.trust_call(trust_account, presented_device, since)
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

    async def trust_device(self, account: str, current: str | None = None, since: float | None = None) -> str:
        return await self.devices.trust(account, current, since)

    async def revoke_devices(self, account: str, keep: str | None = None) -> int:
        return await self.devices.revoke_all(account, keep)

    async def forget_device(self, account: str, token: str) -> None:
        await self.devices.forget(account, token)
