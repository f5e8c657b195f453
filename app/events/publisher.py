"""Appends events to the Redis stream, alone or inside a caller's transaction."""
from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from app.events.envelope import Event

STREAM_FIELD = "event"


class EventPublisher:
    """Writes envelopes to the stream; ``add_to`` queues the XADD on a pipeline so
    the event commits in the same MULTI/EXEC as the state change it reports."""

    def __init__(self, *, redis: Redis, stream: str, source: str) -> None:
        self.redis = redis
        self.stream = stream
        self.source = source

    def add_to(self, pipe: Any, event: Event) -> None:
        pipe.xadd(self.stream, {STREAM_FIELD: event.to_json(self.source)})

    def encode(self, event: Event) -> str:
        return event.to_json(self.source)

    async def publish(self, *events: Event) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for event in events:
                self.add_to(pipe, event)
            await pipe.execute()
