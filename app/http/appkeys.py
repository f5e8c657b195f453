"""Typed keys for everything the web app holds."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from app.authz.principal import Principal
from app.http.views import EncodedReplies
from app.services import Services
from app.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
# Tried in order (Bearer, cookie session, Basic); the first to return a principal wins.
Authenticator = Callable[[web.Request], Awaitable[Principal | None]]
AUTHENTICATORS = web.AppKey("authenticators", list[Authenticator])
# GET /auth/session bodies by sid hash; GET /auth/me bodies by principal object.
SESSION_REPLIES = web.AppKey("session_replies", EncodedReplies)
ME_REPLIES = web.AppKey("me_replies", EncodedReplies)

# Request-scoped keys.
PRINCIPAL = web.RequestKey("principal", Principal)
AUTH_FAILURE = web.RequestKey("auth_failure", Exception)
# Set when the session cookie presented is dead: the reply then tells the browser to drop it.
FORGET_COOKIE = web.RequestKey("forget_cookie", Callable[[web.StreamResponse], None])
REQUEST_ID = web.RequestKey("request_id", str)


def request_id(request: web.Request) -> str:
    """The caller's X-Request-ID, or one made up on first use (only logs need it)."""
    rid = request.get(REQUEST_ID)
    if rid is None:
        import uuid

        rid = request[REQUEST_ID] = request.headers.get(hdrs.X_REQUEST_ID, "")[:64] or uuid.uuid4().hex
    return rid

