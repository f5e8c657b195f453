"""Running the web process(es).

With ``http.workers`` > 1 the parent forks that many single-threaded aiohttp
processes sharing the port through SO_REUSEPORT; the kernel spreads connections.
They share nothing in memory: sessions, revocations and cache invalidation go
through Redis, so any process can answer any request.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal

from aiohttp import web

from app.http.protocol import ProblemAppRunner
from app.server import create_app
from app.settings import Settings


def _install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is optional (e.g. on Windows)
        pass


async def _serve_until_signalled(app: web.Application, host: str, port: int, reuse_port: bool) -> None:
    # web.run_app, but through the runner whose connection handler answers parse errors in problem+json.
    runner = ProblemAppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
        if not reuse_port:
            print(f"serving on http://{host}:{port}", flush=True)
        await asyncio.Event().wait()  # until SIGINT/SIGTERM (GracefulExit) cancels this
    finally:
        await runner.cleanup()


def _run_one(settings: Settings, host: str, port: int, reuse_port: bool) -> None:
    _install_uvloop()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(_serve_until_signalled(create_app(settings), host, port, reuse_port))
    except (web.GracefulExit, KeyboardInterrupt):
        pass


def serve(settings: Settings, *, host: str, port: int) -> None:
    workers = settings.http.processes
    if workers == 1:
        _run_one(settings, host, port, reuse_port=False)
        return
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=_run_one, args=(settings, host, port, True), daemon=False)
                for _ in range(workers)]
    for child in children:
        child.start()
    print(f"serving on http://{host}:{port} with {workers} processes", flush=True)

    def stop(signum, frame) -> None:
        for child in children:
            if child.is_alive():
                os.kill(child.pid, signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()
