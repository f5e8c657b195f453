"""Trusted devices: per account, the SHA-256 of each device token it trusts, in one Redis key,
so that all of an account's devices can be revoked at once and their number is capped.

Keys (``p`` the throttle's prefix; ``<a>`` the SHA-256 of the account key, never the email):
  p:ds:<a>  zset: token hash -> when its trust expires (``ttl_s`` after the login that last
            presented or earned it); at most ``max_devices``, the oldest dropped first; the
            key expires with its newest entry
  p:dr:<a>  when the account's devices were last revoked: a login whose credentials were read
            before then trusts no new device (it raced the revocation); expires after ``ttl_s``
"""
from __future__ import annotations

import secrets

from redis.asyncio import Redis

from app.clock import now_s
from app.throttle import scripts
from app.throttle.attempt import sha256_hex

DEVICE_TOKEN_BYTES = 32


class TrustedDeviceStore:
    def __init__(self, *, redis: Redis, prefix: str, ttl_s: int, max_devices: int) -> None:
        self.redis = redis
        self.prefix = prefix  # the throttle's, ending in ":"
        self.ttl_s = ttl_s
        self.max_devices = max_devices
        self._trust = redis.register_script(scripts.TRUST_DEVICE)
        self._revoke = redis.register_script(scripts.REVOKE_DEVICES)

    def index_key(self, account: str | None) -> str:
        # Without an account the gate still needs a key; this one is never written.
        return f"{self.prefix}ds:{sha256_hex(account) if account else 'none'}"

    def _mark_key(self, account: str) -> str:
        return f"{self.prefix}dr:{sha256_hex(account)}"

    def trust_call(self, account: str, presented: str | None,
                   since: float | None = None) -> tuple[list[str], list[str], str]:
        """The keys and arguments of ``scripts.TRUST_DEVICE_FUNCTION``, and the new token it
        stores unless ``presented`` is trusted for ``account`` already. ``since``: when the
        credentials were read (default now)."""
        token = secrets.token_urlsafe(DEVICE_TOKEN_BYTES)
        hashes = f"{sha256_hex(presented) if presented else '-'} {sha256_hex(token)}"
        terms = f"{now_s() if since is None else since!r} {self.ttl_s} {self.max_devices}"
        return [self.index_key(account), self._mark_key(account)], [hashes, terms], token

    async def trust(self, account: str, presented: str | None = None, since: float | None = None) -> str:
        """A device token trusted for ``account``: ``presented`` if it is already (its life is
        extended), else a new one, so repeated logins do not pile up tokens."""
        keys, args, token = self.trust_call(account, presented, since)
        return presented if int(await self._trust(keys=keys, args=args)) else token

    async def revoke_all(self, account: str, keep: str | None = None) -> int:
        """Stop trusting every device of ``account`` but ``keep`` (if trusted for it); returns
        how many stopped."""
        return int(await self._revoke(
            keys=[self.index_key(account), self._mark_key(account)],
            args=[repr(now_s()), sha256_hex(keep) if keep else "", self.ttl_s]))

    async def forget(self, account: str, token: str) -> None:
        await self.redis.zrem(self.index_key(account), sha256_hex(token))
