"""The app served from a thread with its own event loop, so synchronous clients
(schemathesis uses requests) can call it from a plain test."""
from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from app.server import create_app
from tests.integration.sessions.outage import free_port


class LiveServer:
    runner_class = web.AppRunner

    def __init__(self, settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, coro, timeout: float = 30):
        """Run ``coro`` on the server's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> "LiveServer":
        self._thread.start()

        async def start() -> None:
            self.app = create_app(self.settings)
            self._runner = self.runner_class(self.app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        self.run(start())
        return self

    def __exit__(self, *exc) -> None:
        if self._runner is not None:
            self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
