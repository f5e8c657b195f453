"""One event loop and one service graph per worker process, reused by every task.

Building ``Services`` opens a Redis pool and a SQLAlchemy engine; doing that per
task would cost connections and time. The loop and the graph are made on the
first task in each process (after the prefork pool forked it: sockets must not
be shared across a fork) and closed when the process shuts down.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.audit.drain import AuditDrain
from app.services import Services, build_services
from app.settings import Settings

T = TypeVar("T")


class WorkerRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._services: Services | None = None
        self._drain: AuditDrain | None = None

    def run(self, work: Callable[[Services], Awaitable[T]]) -> T:
        """Run ``work(services)`` to completion on this process's loop."""
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
        if self._services is None:
            self._services = self._loop.run_until_complete(self._build())
        return self._loop.run_until_complete(work(self._services))

    async def _build(self) -> Services:
        # Built inside the loop so the pools bind to it.
        return build_services(self.settings)

    @property
    def drain(self) -> AuditDrain:
        """This process's audit consumer (its name carries the pid, so it is made after the fork)."""
        if self._drain is None:
            services = self._services
            assert services is not None, "drain is used inside run()"
            w, e = self.settings.workers, self.settings.events
            self._drain = AuditDrain(redis=services.redis, sessionmaker=services.sessionmaker,
                                     stream=e.stream, group=e.audit_group, batch_size=w.batch_size,
                                     reclaim_idle_s=w.audit_reclaim_idle_s,
                                     pause_after_commit_s=w.audit_pause_after_commit_s)
        return self._drain

    def forget(self) -> None:
        """Drop what a parent process built (after fork) without closing its sockets."""
        self._loop = None
        self._services = None
        self._drain = None

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            if self._services is not None:
                self._loop.run_until_complete(self._services.close())
            self._loop.close()
        self.forget()
