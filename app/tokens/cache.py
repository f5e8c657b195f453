"""In-process cache of verified access tokens.

A verified token seen again skips the signature check (~115 us for EdDSA) and the
Redis revocation lookup. Entries are trusted only while the invalidation link is up,
live ``ttl_s`` at most (and never past the token's expiry), and are dropped on
``j:<jti>`` (one token revoked) and ``u:<uid>`` (the user's epoch moved, or every
token of the user revoked). A generation counter closes the race where a revocation
lands between the Redis check and the insert.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from app.tokens.claims import AccessClaims


class TokenCache:
    def __init__(self, *, ttl_s: float, max_entries: int, is_trusted: Callable[[], bool]) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._is_trusted = is_trusted
        self._entries: OrderedDict[str, tuple[AccessClaims, float]] = OrderedDict()
        self._by_jti: dict[str, str] = {}
        self._by_user: dict[str, set[str]] = {}
        self.generation = 0

    def get(self, token: str, now: float) -> AccessClaims | None:
        if not self._is_trusted():
            return None
        entry = self._entries.get(token)
        if entry is None:
            return None
        claims, until = entry
        if now >= until:
            self._drop(token)
            return None
        return claims

    def put(self, token: str, claims: AccessClaims, now: float, generation: int, leeway_s: float) -> None:
        if generation != self.generation or not self._is_trusted() or self.ttl_s <= 0:
            return
        until = min(now + self.ttl_s, claims.exp + leeway_s)
        if until <= now:
            return
        if len(self._entries) >= self.max_entries:
            oldest, (evicted, _) = self._entries.popitem(last=False)
            self._unindex(oldest, evicted)
        self._entries[token] = (claims, until)
        self._by_jti[claims.jti] = token
        self._by_user.setdefault(claims.sub, set()).add(token)

    def on_message(self, message: str) -> None:
        kind, _, key = message.partition(":")
        if kind == "j":
            self.generation += 1
            token = self._by_jti.get(key)
            if token is not None:
                self._drop(token)
        elif kind == "u":
            self.generation += 1
            for token in list(self._by_user.get(key, ())):
                self._drop(token)

    def reset(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._by_jti.clear()
        self._by_user.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, token: str) -> None:
        entry = self._entries.pop(token, None)
        if entry is not None:
            self._unindex(token, entry[0])

    def _unindex(self, token: str, claims: AccessClaims) -> None:
        self._by_jti.pop(claims.jti, None)
        bucket = self._by_user.get(claims.sub)
        if bucket is not None:
            bucket.discard(token)
            if not bucket:
                del self._by_user[claims.sub]
