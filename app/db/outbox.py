"""Transactional outbox: Postgres changes and their events commit together."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import OutboxEvent
from app.events.envelope import Event
from app.events.publisher import EventPublisher


def stage(session: AsyncSession, publisher: EventPublisher, event: Event) -> None:
    """Add ``event`` to the caller's transaction."""
    session.add(OutboxEvent(id=uuid.UUID(event.id), envelope=publisher.encode(event)))


class OutboxRelay:
    """Moves committed outbox rows to the stream. Publishing happens before the
    row is deleted, so a crash between the two republishes; consumers dedupe by id."""

    def __init__(self, *, sessionmaker: async_sessionmaker, publisher: EventPublisher) -> None:
        self.sessionmaker = sessionmaker
        self.publisher = publisher

    async def relay(self, ids: list[str] | None = None, limit: int = 500, older_than_s: float = 0.0) -> int:
        """Publish and delete committed rows (``ids``, or the oldest ``limit`` at least
        ``older_than_s`` old); returns how many. Rows another relay holds are skipped."""
        async with self.sessionmaker() as session:
            query = (select(OutboxEvent).order_by(OutboxEvent.created_at).limit(limit)
                     .with_for_update(skip_locked=True))
            if ids is not None:
                query = query.where(OutboxEvent.id.in_([uuid.UUID(i) for i in ids]))
            if older_than_s > 0:
                query = query.where(OutboxEvent.created_at < func.now() - timedelta(seconds=older_than_s))
            rows = (await session.scalars(query)).all()
            if not rows:
                return 0
            async with self.publisher.redis.pipeline(transaction=True) as pipe:
                for row in rows:
                    pipe.xadd(self.publisher.stream, {"event": row.envelope})
                await pipe.execute()
            await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_([r.id for r in rows])))
            await session.commit()
            return len(rows)
