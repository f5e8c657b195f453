"""A consumer-group reader of the event stream: what ``events tail`` runs.

Each group keeps its own position in Redis, so a reader that stops and starts
again resumes where it left off. An entry is acknowledged only after the caller
has handled it (printed it), so a crash in between shows it again next time
(at least once); entries this consumer was given but never acknowledged come
first on start. Entries another consumer of the group was given and has left
unacknowledged for ``claim_idle_s`` (it died, or it was a container that came
back under another host name) are taken over with XAUTOCLAIM: after this
consumer's own, before new ones on start, and again whenever a read finds
nothing new or ``claim_idle_s`` has passed since the last look.
"""
from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app.audit.records import text
from app.events.publisher import STREAM_FIELD


class StreamTail:
    def __init__(self, *, redis: Redis, stream: str, group: str, consumer: str | None = None,
                 batch_size: int = 100, block_ms: int = 500, claim_idle_s: float = 60.0) -> None:
        if not (math.isfinite(claim_idle_s) and claim_idle_s > 0):
            # 0 would take, on every look, the entries live tails of the group are printing.
            raise ValueError(f"claim_idle_s must be a number of seconds > 0, not {claim_idle_s!r}")
        self.redis = redis
        self.stream = stream
        self.group = group
        # Stable per host: a restarted tail picks up what it was given and did not finish at
        # once, and first. Two tails of one group on one host need names of their own.
        self.consumer = consumer or socket.gethostname()
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_s = claim_idle_s
        self.claim_idle_ms = max(1, math.ceil(claim_idle_s * 1000))
        self._next_claim = 0.0

    async def join(self, *, from_start: bool) -> None:
        """Create the group (at the start of the stream, or at its end: only new events).
        ``from_start`` on an existing group rewinds it; otherwise it resumes."""
        start = "0" if from_start else "$"
        try:
            await self.redis.xgroup_create(self.stream, self.group, id=start, mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
            if from_start:
                await self.redis.xgroup_setid(self.stream, self.group, id="0")

    async def batches(self) -> AsyncIterator[list[tuple[str, str]]]:
        """Yield lists of (stream id, envelope JSON); an empty list when nothing came
        within ``block_ms`` (a chance for the caller to stop). The caller acknowledges each
        batch before asking for the next: the backlog read below relies on it."""
        # This consumer's own unacknowledged entries ("0" gives them from the first, each
        # time: those acknowledged meanwhile are gone from the list).
        while True:
            reply = await self.redis.xreadgroup(self.group, self.consumer, {self.stream: "0"},
                                                count=self.batch_size)
            entries = reply[0][1] if reply else []
            if not entries:
                break
            yield [(text(i), printable_line(f)) for i, f in entries]
        async for batch in self._claim():
            yield batch
        while True:
            reply = await self.redis.xreadgroup(self.group, self.consumer, {self.stream: ">"},
                                                count=self.batch_size, block=self.block_ms)
            entries = reply[0][1] if reply else []
            yield [(text(i), printable_line(f)) for i, f in entries]
            # A quiet moment, or a busy stream for claim_idle_s: look for abandoned entries.
            if not entries or time.monotonic() >= self._next_claim:
                async for batch in self._claim():
                    yield batch

    async def _claim(self) -> AsyncIterator[list[tuple[str, str]]]:
        """One pass over the group's pending entries: those idle for ``claim_idle_s`` become
        this consumer's (their idle time starts again, so a live tail of the group does not
        take them back while this one prints them), in stream order."""
        self._next_claim = time.monotonic() + self.claim_idle_s
        cursor = "0-0"
        while True:
            reply = await self.redis.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                                start_id=cursor, count=self.batch_size)
            cursor = text(reply[0])
            # (Redis 6.2 gives a deleted entry as nil, without its id: nothing to print or ack.)
            batch = [(text(i), printable_line(f)) for i, f in reply[1] if i is not None]
            # Redis 7 also lists the ids of pending entries the stream no longer holds (trimmed),
            # whoever had them and however briefly. It has dropped them from the pending list;
            # they get the line a consumer's own deleted entry gets, and an XACK all the same.
            batch += [(text(i), printable_line(None)) for i in (reply[2] if len(reply) > 2 else ())]
            if batch:
                batch.sort(key=lambda entry: _stream_order(entry[0]))
                yield batch
            if cursor == "0-0":
                return

    async def ack(self, ids: list[str]) -> None:
        if ids:
            await self.redis.xack(self.stream, self.group, *ids)


def _stream_order(stream_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in stream_id.split("-"))


def printable_line(fields: dict | None) -> str:
    """``envelope_line``, or a line marking the entry unreadable should anything about it fail:
    one entry that cannot be printed must not stop the tail (it would stay pending for this
    host's consumer, be given first again on every start, and stop it each time, or be claimed
    by every other tail of the group in turn and stop each of them)."""
    try:
        return envelope_line(fields)
    except Exception as e:  # noqa: BLE001 - whatever the entry holds, print a line and go on
        return json.dumps({"unreadable": True, "reason": f"cannot be printed ({type(e).__name__})"})


def envelope_line(fields: dict | None) -> str:
    """The envelope as one line of JSON (entries that are not JSON are wrapped, not dropped).
    ASCII only: a JSON string may hold a lone surrogate (``"\\ud800"``), which no UTF-8
    output can carry as a character, only as this escape; an entry that is not UTF-8 is
    marked unreadable and printed with U+FFFD in place of the bytes that are not."""
    raw = None
    if fields:
        raw = fields.get(STREAM_FIELD.encode(), fields.get(STREAM_FIELD))
    if raw is None:
        return json.dumps({"unreadable": True, "reason": "entry deleted or without an event field"})
    if isinstance(raw, bytes):
        try:
            raw = raw.decode()
        except UnicodeDecodeError:
            return json.dumps({"unreadable": True, "reason": "not UTF-8",
                               "raw": raw.decode("utf-8", errors="replace")})
    raw = str(raw)
    try:
        return json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=True)
    except ValueError:
        return json.dumps({"unreadable": True, "raw": raw})
