"""The session expiry sweep: ends sessions whose idle or absolute deadline passed.

Redis runs one script at a time, so the work is cut into Lua calls of at most
``batch_size`` sessions (each call a few milliseconds) with other clients served
in between. Overlapping sweeps are harmless: each session is ended inside one
script, and its ``auth.session.expired`` event id derives from the session, so
the second sweep neither finds it nor could report it twice.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from app.clock import now_s
from app.sessions.store import RedisSessionStore


@dataclass(frozen=True, slots=True)
class SweepReport:
    batches: int
    looked_at: int
    ended: int


class SessionSweeper:
    def __init__(self, *, store: RedisSessionStore, batch_size: int = 100) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.store = store
        self.batch_size = batch_size

    async def sweep(self, budget_s: float, now: float | None = None) -> SweepReport:
        """Sweep batches until one comes back short (nothing more is due) or the budget is spent."""
        deadline = time.monotonic() + budget_s
        batches = looked_at = ended = 0
        while True:
            seen, gone = await self.store.sweep_expired(now if now is not None else now_s(), self.batch_size)
            batches += 1
            looked_at += seen
            ended += gone
            if seen < self.batch_size or time.monotonic() >= deadline:
                return SweepReport(batches, looked_at, ended)
