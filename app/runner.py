"""Running the web process."""
from __future__ import annotations

import logging

from aiohttp import web

from app.server import create_app
from app.settings import Settings


def serve(settings: Settings, *, host: str, port: int) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is optional (e.g. on Windows)
        pass
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    web.run_app(create_app(settings), host=host, port=port, access_log=None,
                reuse_port=settings.http.workers > 1)
