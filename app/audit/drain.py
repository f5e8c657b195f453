"""The audit writer: drains the event stream into audit_log through a consumer group.

At least once from Redis, exactly once in Postgres: a batch is inserted with
``ON CONFLICT (event_id) DO NOTHING`` and acknowledged (XACK) only after the
commit. A consumer killed before its commit leaves the entries pending, and
another consumer reclaims them (XAUTOCLAIM) once they have been idle long
enough; one killed between commit and XACK gets its batch re-inserted, which
the primary key turns into a no-op.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.audit.records import MalformedEntry, audit_row
from app.audit.records import text as as_text
from app.jsonfmt import compact_json
from app.outage import is_store_outage

log = logging.getLogger("app.audit")

INSERT_BATCH = text("""
    INSERT INTO audit_log (event_id, stream_id, type, subject, time, source, data)
    SELECT * FROM unnest(CAST(:event_ids AS text[]), CAST(:stream_ids AS text[]), CAST(:types AS text[]),
                         CAST(:subjects AS text[]), CAST(:times AS timestamptz[]),
                         CAST(:sources AS text[]), CAST(:data AS jsonb[]))
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
""")


# SQLSTATE classes that speak of the server or of the statement, never of one row's values:
# a connection (08), transaction state (25), authorization (28), a missing database or schema
# (3D, 3F), a deadlock or serialization failure (40), the statement or a privilege (42),
# resources (53), a lock or object state (55), an operator (57), the system (58), an internal
# error (XX). Raised with one of these, a batch fails whole and is retried, rather than
# every row of it being dead-lettered.
_NOT_ABOUT_THE_ROW = frozenset({"08", "25", "28", "3D", "3F", "40", "42", "53", "55", "57", "58", "XX"})


def refused_data(error: DBAPIError) -> bool:
    """Postgres (or the driver) refused the values: class 22 data, 23 integrity, 54 a limit
    such as an index row or a jsonb value too large, and anything else that is neither a
    store outage nor a server-wide condition. An outage must fail the batch so it is
    retried whole; a refused row is dead-lettered so it cannot halt the rows behind it."""
    if is_store_outage(error):
        return False
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None) or ""
    return str(code)[:2].upper() not in _NOT_ABOUT_THE_ROW


def default_consumer_name() -> str:
    """Unique per process: a restarted worker is a new consumer, and what the old
    one left pending is reclaimed by idle time rather than by name."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class DrainReport:
    read: int = 0  # entries handled (new + own pending + reclaimed)
    inserted: int = 0  # rows that were not in audit_log yet
    reclaimed: int = 0  # entries taken over from other (dead) consumers
    dead_lettered: int = 0  # unreadable entries moved to the dead-letter stream

    def add(self, other: "DrainReport") -> None:
        self.read += other.read
        self.inserted += other.inserted
        self.reclaimed += other.reclaimed
        self.dead_lettered += other.dead_lettered


class AuditDrain:
    def __init__(self, *, redis: Redis, sessionmaker: async_sessionmaker, stream: str, group: str,
                 consumer: str | None = None, batch_size: int = 500, reclaim_idle_s: float = 60.0,
                 pause_after_commit_s: float = 0.0) -> None:
        self.redis = redis
        self.sessionmaker = sessionmaker
        self.stream = stream
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self.batch_size = batch_size
        self.reclaim_idle_ms = int(reclaim_idle_s * 1000)
        self.pause_after_commit_s = pause_after_commit_s
        self.dead_letter_stream = f"{stream}:dead"
        self._claim_cursor = "0-0"
        self._group_ready = False

    async def ensure_group(self) -> None:
        """Create the group at the start of the stream: the audit trail wants all history."""
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        self._group_ready = True

    async def drain(self, budget_s: float) -> DrainReport:
        """Take batches until the stream has nothing for this group or ``budget_s`` passed."""
        total = DrainReport()
        deadline = time.monotonic() + budget_s
        await self.ensure_group()
        while True:
            report = await self.drain_batch()
            total.add(report)
            if report.read == 0 or time.monotonic() >= deadline:
                return total

    async def drain_batch(self) -> DrainReport:
        """One batch: our own unacknowledged entries first, then abandoned ones, then new ones."""
        try:
            return await self._drain_batch()
        except ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            # The stream was deleted (and the group with it): start again.
            self._group_ready = False
            await self.ensure_group()
            return DrainReport()

    async def _drain_batch(self) -> DrainReport:
        entries = await self._read("0")
        reclaimed = 0
        if not entries:
            entries = await self._reclaim()
            reclaimed = len(entries)
        if not entries:
            entries = await self._read(">")
        report = await self._store(entries) if entries else DrainReport()
        report.reclaimed = reclaimed
        return report

    async def _read(self, start: str) -> list[tuple[str, dict | None]]:
        reply = await self.redis.xreadgroup(self.group, self.consumer, {self.stream: start},
                                            count=self.batch_size)
        if not reply:
            return []
        return [(as_text(i), f) for i, f in reply[0][1]]

    async def _reclaim(self) -> list[tuple[str, dict | None]]:
        reply = await self.redis.xautoclaim(self.stream, self.group, self.consumer, self.reclaim_idle_ms,
                                            start_id=self._claim_cursor, count=self.batch_size)
        # Redis 7 replies [cursor, entries, deleted ids]; deleted ones leave the PEL by themselves.
        self._claim_cursor = as_text(reply[0])
        entries = [(as_text(i), f) for i, f in reply[1] if i is not None]
        if entries:
            log.warning("reclaimed %d audit entries left pending by a dead consumer", len(entries))
        return entries

    async def _store(self, entries: list[tuple[str, dict | None]]) -> DrainReport:
        rows: dict[str, dict] = {}
        malformed: list[MalformedEntry] = []
        for stream_id, fields in entries:
            try:
                row = audit_row(stream_id, fields)
            except Exception as e:  # noqa: BLE001 - one entry must never halt the trail behind it
                log.exception("audit entry %s unreadable", stream_id)
                row = MalformedEntry(stream_id, repr(fields)[:4096], f"unreadable ({type(e).__name__})")
            if isinstance(row, MalformedEntry):
                malformed.append(row)
            else:
                rows.setdefault(row["event_id"], row)  # the same event relayed twice: keep the first
        inserted = 0
        if rows:
            try:
                inserted = await self._insert(list(rows.values()))
            except DBAPIError as e:
                if not refused_data(e):
                    raise
                # One row Postgres refuses (say a NUL in a JSON string, or a value over an
                # index's row size) must not hold back the rest of its batch forever:
                # insert one by one, dead-letter it.
                inserted, refused = await self._insert_one_by_one(list(rows.values()))
                malformed += refused
        if self.pause_after_commit_s:
            await asyncio.sleep(self.pause_after_commit_s)
        ids = [stream_id for stream_id, _ in entries]
        async with self.redis.pipeline(transaction=True) as pipe:
            for bad in malformed:
                # Kept verbatim for a human; acknowledging it keeps the group moving.
                pipe.xadd(self.dead_letter_stream, {"stream_id": bad.stream_id, "reason": bad.reason,
                                                    "raw": bad.raw})
            pipe.xack(self.stream, self.group, *ids)
            await pipe.execute()
        for bad in malformed:
            log.error("audit entry %s is unreadable (%s); moved to %s", bad.stream_id, bad.reason,
                      self.dead_letter_stream)
        return DrainReport(read=len(entries), inserted=inserted, dead_lettered=len(malformed))

    async def _insert(self, rows: list[dict]) -> int:
        # One array per column through unnest: a fixed statement with seven parameters
        # (prepared once per connection), however many rows the batch has.
        async with self.sessionmaker() as session, session.begin():
            result = await session.execute(INSERT_BATCH, {
                "event_ids": [r["event_id"] for r in rows], "stream_ids": [r["stream_id"] for r in rows],
                "types": [r["type"] for r in rows], "subjects": [r["subject"] for r in rows],
                "times": [r["time"] for r in rows], "sources": [r["source"] for r in rows],
                "data": [compact_json(r["data"]) for r in rows]})
            return len(result.all())

    async def _insert_one_by_one(self, rows: list[dict]) -> tuple[int, list[MalformedEntry]]:
        inserted, refused = 0, []
        for row in rows:
            try:
                inserted += await self._insert([row])
            except DBAPIError as e:
                if not refused_data(e):
                    raise
                refused.append(MalformedEntry(row["stream_id"], json.dumps(row, default=str),
                                              f"refused by Postgres: {e.orig}"))
        return inserted, refused
