"""In-process cache of verified access tokens.

A verified token seen again skips the signature check (~115 us for EdDSA) and the
Redis revocation lookup. Entries never outlive the token, and are dropped on
``j:<jti>`` (one token revoked) and ``u:<uid>`` (the user's epoch moved, or every
token of the user revoked); see RevocableCache for the rest.
"""
from __future__ import annotations

from collections.abc import Callable

from app.events.revocable_cache import RevocableCache
from app.tokens.claims import AccessClaims


class TokenCache(RevocableCache[AccessClaims]):
    def __init__(self, *, ttl_s: float, max_entries: int, is_trusted: Callable[[], bool]) -> None:
        super().__init__(ttl_s=ttl_s, max_entries=max_entries, is_trusted=is_trusted, message_kind="j")

    def put(self, token: str, claims: AccessClaims, now: float, generation: int, leeway_s: float) -> None:
        self.store(token, claims, owner=claims.sub, name=claims.jti, until=claims.exp + leeway_s, now=now,
                   generation=generation)
