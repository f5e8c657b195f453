"""Step-up: sensitive actions need a recent authentication, not just a live session.

``@require_recent_auth`` on a handler (password change, MFA changes), and
``ensure_recent_auth`` from the route guard for every /admin route, refuse a user
whose ``auth_time`` is older than ``security.reauth_window_s`` with 401
``reauthentication_required``; POST /auth/reauthenticate (or a fresh password
grant, for token clients) brings it back. API clients (HTTP Basic) present their
secret on every request, so they are always recently authenticated.
"""
from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from app.authz.principal import UserPrincipal
from app.clock import now_s
from app.errors import ReauthenticationRequiredError
from app.http.appkeys import SETTINGS
from app.http.authn import principal_of, require_user

RECENT_AUTH_ATTR = "__requires_recent_auth__"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ensure_recent_auth(request: web.Request) -> None:
    """:raises ReauthenticationRequiredError: a user whose authentication is too old."""
    principal = principal_of(request)
    if not isinstance(principal, UserPrincipal):
        return
    window = request.app[SETTINGS].security.reauth_window_s
    if now_s() - principal.auth_time > window:
        raise ReauthenticationRequiredError(
            f"Confirm your password (POST /auth/reauthenticate); this action needs a login "
            f"less than {window} seconds old.", reauth_window_s=window)


def require_recent_auth(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        require_user(request)
        ensure_recent_auth(request)
        return await handler(request)

    setattr(guarded, RECENT_AUTH_ATTR, True)
    return guarded
