"""Stream retention: trim old entries, never one the audit group has not acknowledged.

Stream ids are ``<ms>-<seq>``, so "older than the retention" is an id bound.
The trim point is the lowest of that bound, the oldest entry still pending for
the audit group (XPENDING) and the first entry it has not been given yet (after
XINFO GROUPS' last-delivered-id). Reading those and trimming are separate calls,
which is safe: both bounds only ever move forward. Other consumer groups (say
``events tail``) get the retention and nothing more.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app.audit.records import text

# Removes a consumer only if it holds no pending entry, checked and done atomically,
# so an entry is never dropped from the PEL (which would hide it from reclaiming).
DELETE_IDLE_CONSUMER = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #pending > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def parse_id(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def format_id(parts: tuple[int, int]) -> str:
    return f"{parts[0]}-{parts[1]}"


@dataclass(frozen=True, slots=True)
class TrimReport:
    trimmed: int
    min_id: str | None  # None: nothing may be trimmed (the audit group does not exist)


class StreamRetention:
    def __init__(self, *, redis: Redis, stream: str, audit_group: str, retention_s: float,
                 consumer_idle_s: float = 3600.0) -> None:
        self.redis = redis
        self.stream = stream
        self.audit_group = audit_group
        self.retention_s = retention_s
        self.consumer_idle_ms = int(consumer_idle_s * 1000)
        self._delete_consumer = redis.register_script(DELETE_IDLE_CONSUMER)

    async def safe_min_id(self, now: float) -> str | None:
        """The lowest id that must survive, or None when nothing may go."""
        try:
            groups = await self.redis.xinfo_groups(self.stream)
        except ResponseError:
            return None  # no stream
        audit = next((g for g in groups if text(g["name"]) == self.audit_group), None)
        if audit is None:
            # The audit writer has never run: every entry is still owed to it.
            return None
        last_ms, last_seq = parse_id(text(audit["last-delivered-id"]))
        floor = (last_ms, last_seq + 1)
        pending = await self.redis.xpending(self.stream, self.audit_group)
        if pending["pending"]:
            floor = min(floor, parse_id(text(pending["min"])))
        by_age = (max(0, int((now - self.retention_s) * 1000)), 0)
        return format_id(min(floor, by_age))

    async def trim(self, now: float, budget_s: float = 5.0) -> TrimReport:
        """Trim whole stream nodes (``XTRIM MINID ~``: bounded work per call, and the
        approximation only ever keeps more)."""
        min_id = await self.safe_min_id(now)
        if min_id is None:
            return TrimReport(0, None)
        trimmed = 0
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            n = await self.redis.xtrim(self.stream, minid=min_id, approximate=True)
            trimmed += n
            if not n:
                break
        return TrimReport(trimmed, min_id)

    async def trim_dead_letters(self, now: float) -> int:
        """The audit writer's dead-letter stream keeps unreadable entries for the retention."""
        by_age = format_id((max(0, int((now - self.retention_s) * 1000)), 0))
        return int(await self.redis.xtrim(f"{self.stream}:dead", minid=by_age, approximate=True))

    async def prune_consumers(self) -> int:
        """Forget consumers of the audit group that hold nothing and were idle long
        (each restarted worker process is a new consumer name)."""
        try:
            consumers = await self.redis.xinfo_consumers(self.stream, self.audit_group)
        except ResponseError:
            return 0
        removed = 0
        for c in consumers:
            if int(c["pending"]) == 0 and int(c["idle"]) >= self.consumer_idle_ms:
                removed += int(await self._delete_consumer(keys=[self.stream],
                                                           args=[self.audit_group, text(c["name"])]))
        return removed
