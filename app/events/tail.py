"""A consumer-group reader of the event stream: what ``events tail`` runs.

Each group keeps its own position in Redis, so a reader that stops and starts
again resumes where it left off. An entry is acknowledged only after the caller
has handled it (printed it), so a crash in between shows it again next time
(at least once); entries this consumer was given but never acknowledged come
first on start.
"""
from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app.audit.records import text
from app.events.publisher import STREAM_FIELD


class StreamTail:
    def __init__(self, *, redis: Redis, stream: str, group: str, consumer: str | None = None,
                 batch_size: int = 100, block_ms: int = 500) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        # Stable per host: a restarted tail picks up what it was given and did not finish.
        self.consumer = consumer or socket.gethostname()
        self.batch_size = batch_size
        self.block_ms = block_ms

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
        within ``block_ms`` (a chance for the caller to stop)."""
        backlog = True
        while True:
            start = "0" if backlog else ">"
            reply = await self.redis.xreadgroup(self.group, self.consumer, {self.stream: start},
                                                count=self.batch_size,
                                                block=None if backlog else self.block_ms)
            entries = reply[0][1] if reply else []
            if backlog and not entries:
                backlog = False
                continue
            yield [(text(i), printable_line(f)) for i, f in entries]

    async def ack(self, ids: list[str]) -> None:
        if ids:
            await self.redis.xack(self.stream, self.group, *ids)


def printable_line(fields: dict | None) -> str:
    """``envelope_line``, or a line marking the entry unreadable should anything about it fail:
    one entry that cannot be printed must not stop the tail (it would stay pending for this
    host's consumer, be given first again on every start, and stop it each time)."""
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
