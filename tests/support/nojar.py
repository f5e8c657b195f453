"""Test clients without a cookie jar: every cookie a request carries is one the test chose
(aiohttp's jar would otherwise mix several users' cookies on one client)."""
from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.server import create_app


class NoJarServers:
    def __init__(self) -> None:
        self.clients: list[TestClient] = []

    async def __call__(self, settings) -> TestClient:
        client = TestClient(TestServer(create_app(settings)), cookie_jar=aiohttp.DummyCookieJar())
        await client.start_server()
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


@pytest.fixture
async def serve_without_cookie_jar():
    """The ``serve`` fixture for tests that choose every cookie a request carries: a module or
    conftest takes it as ``serve = serve_without_cookie_jar``."""
    servers = NoJarServers()
    yield servers
    await servers.close()
