"""MFA-pending tokens: what a correct password buys while the second factor is due.

The token is 256 random bits, handed to the client once; Redis keeps only its
SHA-256 (``p:mfa:c:<hash>`` -> {uid, attempts}), for ``ttl_s``. It is accepted by
POST /auth/login/mfa and nowhere else (no authenticator reads it), it dies after
``max_attempts`` wrong codes, and it is consumed by the one request that succeeds.
"""
from __future__ import annotations

import hashlib
import secrets

from redis.asyncio import Redis

from app.events.envelope import Event
from app.events.publisher import EventPublisher

TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 64

# KEYS: challenge. ARGV: max attempts. Counts a wrong code; the token dies at the limit.
_FAIL = """
-- A token that expired, was used or was spent meanwhile: counting on it would create
-- the key anew, without an expiry.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if n >= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
return n
"""


def _h(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class MfaChallengeStore:
    def __init__(self, *, redis: Redis, publisher: EventPublisher, prefix: str, ttl_s: int,
                 max_attempts: int = 5) -> None:
        self.redis = redis
        self.publisher = publisher
        self.prefix = f"{prefix}:mfa:c:"
        self.ttl_s = ttl_s
        self.max_attempts = max_attempts
        self._fail = redis.register_script(_FAIL)

    def _key(self, token: str) -> str:
        return self.prefix + _h(token)

    async def issue(self, user_id: str, event: Event, credentials_at: float) -> str:
        """``credentials_at``: when the password was checked against the account (its
        UserRecord.read_at); the session the second step opens is dated from then."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(token), mapping={"uid": user_id, "attempts": 0, "at": repr(credentials_at)})
            pipe.expire(self._key(token), self.ttl_s)
            self.publisher.add_to(pipe, event)
            await pipe.execute()
        return token

    async def owner(self, token: str) -> tuple[str, float] | None:
        """The user a live token belongs to and when their password was checked (None:
        unknown, expired, used or malformed)."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        uid, at = await self.redis.hmget(self._key(token), "uid", "at")
        if uid is None:
            return None
        return (uid.decode() if isinstance(uid, bytes) else uid), float(at or 0)

    async def failed(self, token: str) -> None:
        await self._fail(keys=[self._key(token)], args=[self.max_attempts])

    async def consume(self, token: str) -> bool:
        """Spend the token; False if another request already did."""
        return bool(await self.redis.delete(self._key(token)))
