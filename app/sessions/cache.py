"""In-process cache of validated sessions.

Entries live a few seconds at most, are dropped on pub/sub invalidation, and
are not used at all while the invalidation link is down. A generation counter
closes the race where a revocation lands between a Redis read and the insert.
"""
from __future__ import annotations

from collections import OrderedDict

from app.sessions.record import SessionRecord


class SessionCache:
    def __init__(self, *, ttl_s: float, max_entries: int, is_trusted) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._is_trusted = is_trusted
        self._entries: OrderedDict[str, tuple[SessionRecord, float]] = OrderedDict()
        self._by_user: dict[str, set[str]] = {}
        self.generation = 0

    def get(self, sid_hash: str, now: float) -> SessionRecord | None:
        if not self._is_trusted():
            return None
        entry = self._entries.get(sid_hash)
        if entry is None:
            return None
        record, until = entry
        if now >= until:
            self._drop(sid_hash)
            return None
        return record

    def put(self, record: SessionRecord, now: float, generation: int) -> None:
        """Cache ``record`` read when the generation was ``generation``; skipped if
        any invalidation arrived since (it may have been about this session)."""
        if generation != self.generation or not self._is_trusted() or self.ttl_s <= 0:
            return
        # Cached hits do not slide the idle deadline in Redis, so an entry must lapse
        # well before it: the next request then reaches Redis while the session lives.
        until = min(now + self.ttl_s, record.last_seen_at + record.idle_timeout_s / 2,
                    record.absolute_expires_at)
        if until <= now:
            return
        if len(self._entries) >= self.max_entries:
            oldest, (evicted, _) = self._entries.popitem(last=False)
            self._unindex(oldest, evicted.user_id)
        self._entries[record.sid_hash] = (record, until)
        self._by_user.setdefault(record.user_id, set()).add(record.sid_hash)

    def on_message(self, message: str) -> None:
        self.generation += 1
        kind, _, key = message.partition(":")
        if kind == "s":
            self._drop(key)
        elif kind == "u":
            for sid_hash in list(self._by_user.get(key, ())):
                self._drop(sid_hash)

    def reset(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._by_user.clear()

    def _drop(self, sid_hash: str) -> None:
        entry = self._entries.pop(sid_hash, None)
        if entry is not None:
            self._unindex(sid_hash, entry[0].user_id)

    def _unindex(self, sid_hash: str, user_id: str) -> None:
        bucket = self._by_user.get(user_id)
        if bucket is not None:
            bucket.discard(sid_hash)
            if not bucket:
                del self._by_user[user_id]
