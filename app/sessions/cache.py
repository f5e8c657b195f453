"""In-process cache of validated sessions: keyed by the session id (a hit then needs no
hash), revoked by sid hash (``s:<sid hash>``) or user (``u:<uid>``).

The ids stay in this process's memory, as the request buffers that carried them do;
Redis, logs and events only ever see their hashes."""
from __future__ import annotations

from collections.abc import Callable

from app.events.revocable_cache import RevocableCache
from app.sessions.record import SessionRecord


class SessionCache(RevocableCache[SessionRecord]):
    def __init__(self, *, ttl_s: float, max_entries: int, is_trusted: Callable[[], bool]) -> None:
        super().__init__(ttl_s=ttl_s, max_entries=max_entries, is_trusted=is_trusted, message_kind="s")

    def put(self, session_id: str, record: SessionRecord, now: float, generation: int) -> None:
        # Cached hits do not slide the idle deadline in Redis, so an entry must lapse
        # well before it: the next request then reaches Redis while the session lives.
        until = min(record.last_seen_at + record.idle_timeout_s / 2, record.absolute_expires_at)
        self.store(session_id, record, owner=record.user_id, name=record.sid_hash, until=until, now=now,
                   generation=generation)
