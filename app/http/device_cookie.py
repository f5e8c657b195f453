"""The trusted-device cookie: proof that this browser logged in to an account before,
which lets the owner past a throttle an attacker is holding shut (see app.throttle)."""
from __future__ import annotations

import logging
import re

from aiohttp import hdrs, web

from app.http.appkeys import SETTINGS, request_id
from app.http.cookies import read_cookie
from app.settings import Settings
from app.throttle.limiter import DEVICE_TOKEN_BYTES

security_log = logging.getLogger("app.security")
# Exactly what secrets.token_urlsafe(DEVICE_TOKEN_BYTES) makes: unpadded base64url.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{%d}" % -(-DEVICE_TOKEN_BYTES * 4 // 3))


class DeviceCookie:
    def __init__(self, settings: Settings) -> None:
        self.name = settings.throttle.device_cookie or f"{settings.cookie.name}-device"
        self.secure = settings.cookie.secure
        self.max_age = settings.throttle.device_ttl_s

    def read(self, request: web.Request) -> str | None:
        value = read_cookie(request.headers.get(hdrs.COOKIE, ""), self.name)
        if not value:
            return None
        # Anything not shaped like our token is no token: it never reaches Redis or the hashing
        # of its key (non-UTF-8 bytes arrive as lone surrogates, which cannot be encoded).
        if not TOKEN_SHAPE.fullmatch(value):
            security_log.info("device cookie refused: not a device token",
                              extra={"request_id": request_id(request)})
            return None
        return value

    def write(self, response: web.StreamResponse, token: str) -> None:
        response.set_cookie(self.name, token, path="/", max_age=self.max_age, secure=self.secure,
                            httponly=True, samesite="Strict")


def presented_device(request: web.Request) -> str | None:
    """The trusted-device token the caller presented, if any: a secret check counts it on
    the device's own throttle counter."""
    return DeviceCookie(request.app[SETTINGS]).read(request)
