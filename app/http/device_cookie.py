"""The trusted-device cookie: proof that this browser logged in to an account before,
which lets the owner past a throttle an attacker is holding shut (see app.throttle)."""
from __future__ import annotations

from aiohttp import hdrs, web

from app.http.cookies import read_cookie
from app.settings import Settings

MAX_TOKEN_CHARS = 64


class DeviceCookie:
    def __init__(self, settings: Settings) -> None:
        self.name = settings.throttle.device_cookie or f"{settings.cookie.name}-device"
        self.secure = settings.cookie.secure
        self.max_age = settings.throttle.device_ttl_s

    def read(self, request: web.Request) -> str | None:
        value = read_cookie(request.headers.get(hdrs.COOKIE, ""), self.name)
        # Anything not shaped like our token is no token (and never reaches Redis unbounded).
        if not value or len(value) > MAX_TOKEN_CHARS:
            return None
        return value

    def write(self, response: web.StreamResponse, token: str) -> None:
        response.set_cookie(self.name, token, path="/", max_age=self.max_age, secure=self.secure,
                            httponly=True, samesite="Strict")
