"""Users' emails for the ``${user.email}`` placeholder, read only when a rule needs one.

Access tokens carry no email (no personal data in JWTs), so a Bearer caller, or a user
named by a token in /authz/check, comes without one. Reading the account on every
Bearer request would cost the hot path a Postgres round trip for a value most rules
never look at; instead the authorizer asks here when a caller's rules refer to it. An
email read is kept per process, dropped on the user's ``u:<id>`` invalidation message
like every per-user cache, and not used while the pub/sub link is down.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.clock import now_s
from app.db.users import UserRepository
from app.events.revocable_cache import RevocableCache

# An email does not change in this service; the bound only limits how long an edit made
# straight in Postgres (which sends no message) can go unseen.
TTL_S = 300.0


class UserEmails:
    def __init__(self, *, sessionmaker: async_sessionmaker, users: UserRepository, max_entries: int = 10_000,
                 ttl_s: float = TTL_S, is_trusted: Callable[[], bool] = lambda: False) -> None:
        self.sessionmaker = sessionmaker
        self.users = users
        self._cache: RevocableCache[str] = RevocableCache(ttl_s=ttl_s, max_entries=max_entries,
                                                          is_trusted=is_trusted, message_kind=None)
        self.reads = 0

    async def email_of(self, user_id: str) -> str | None:
        """The user's email; None for no such user."""
        now = now_s()
        cached = self._cache.get(user_id, now)
        if cached is not None:
            return cached
        generation = self._cache.generation
        async with self.sessionmaker() as session:
            user = await self.users.by_id(session, user_id)
        self.reads += 1
        if user is None or not user.email:
            return None
        # Owned by the canonical id: that is what u:<id> messages name.
        self._cache.store(user_id, user.email, owner=user.id, name=user.id, until=now + self._cache.ttl_s,
                          now=now, generation=generation)
        return user.email

    def on_message(self, message: str) -> None:
        self._cache.on_message(message)

    def reset(self) -> None:
        self._cache.reset()
