"""A minimal browser: keeps the session cookie and CSRF token by hand, so tests
see exactly what crosses the wire (aiohttp's jar would hide Secure cookies on http)."""
from __future__ import annotations

import asyncio
import time
import uuid
from http.cookies import SimpleCookie

from aiohttp.test_utils import TestClient

STRONG_PASSWORD = "correct horse battery staple 42"


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


class Browser:
    def __init__(self, client: TestClient, cookie_name: str = "__Host-id") -> None:
        self.client = client
        self.cookie_name = cookie_name
        self.session_id: str | None = None
        self.csrf: str | None = None
        self.last_set_cookie: SimpleCookie | None = None

    def _headers(self, extra: dict | None, unsafe: bool) -> dict:
        headers = dict(extra or {})
        if self.session_id:
            headers.setdefault("Cookie", f"{self.cookie_name}={self.session_id}")
        if unsafe and self.csrf:
            headers.setdefault("X-CSRF-Token", self.csrf)
        return headers

    def _absorb(self, response) -> None:
        raw = response.headers.getall("Set-Cookie", [])
        for header in raw:
            cookie = SimpleCookie()
            cookie.load(header)
            self.last_set_cookie = cookie
            if self.cookie_name in cookie:
                morsel = cookie[self.cookie_name]
                self.session_id = None if morsel["max-age"] == "0" or not morsel.value else morsel.value

    async def request(self, method: str, path: str, *, json=None, headers=None, **kw):
        response = await self.client.request(
            method, path, json=json, headers=self._headers(headers, method not in ("GET", "HEAD")), **kw)
        await response.read()
        self._absorb(response)
        return response

    async def register(self, email: str, password: str = STRONG_PASSWORD):
        return await self.request("POST", "/auth/register", json={"email": email, "password": password})

    async def login(self, email: str, password: str = STRONG_PASSWORD):
        response = await self.request("POST", "/auth/login", json={"email": email, "password": password})
        if response.status == 200:
            self.csrf = (await response.json())["csrf_token"]
        return response

    async def signed_up(self, email: str | None = None, password: str = STRONG_PASSWORD) -> str:
        email = email or new_email()
        assert (await self.register(email, password)).status == 201
        assert (await self.login(email, password)).status == 200
        return email


async def rejected_within(browser: Browser, seconds: float) -> float:
    """How long until the browser's session is refused (401); fails after ``seconds``."""
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if (await browser.request("GET", "/auth/session")).status == 401:
            return time.perf_counter() - start
        await asyncio.sleep(0.002)
    raise AssertionError(f"session still accepted after {seconds}s")
