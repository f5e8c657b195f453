"""The Bearer authenticator (RFC 6750): ``Authorization: Bearer <jwt>``, or the access
cookie when the browser transport is on."""
from __future__ import annotations

from aiohttp import web

from app.authz.principal import Principal, UserPrincipal
from app.http.appkeys import SERVICES
from app.http.authn import authorization_value
from app.http.token_cookies import COOKIE_METHOD, TokenCookies
from app.tokens.errors import InvalidTokenError


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None for no header or another scheme.

    :raises InvalidTokenError: a Bearer header without a usable token."""
    token = authorization_value(request, "bearer")
    if token is None:
        return None
    if not token:
        raise InvalidTokenError(reason="empty_bearer")
    return token


def bearer_authenticator(cookies: TokenCookies):
    async def authenticate(request: web.Request) -> Principal | None:
        token = bearer_token(request)
        method = "bearer"
        if token is None:
            token = cookies.access(request)
            if not token:
                return None
            method = COOKIE_METHOD
        claims = await request.app[SERVICES].tokens.verify_access(token)
        principal = claims.principal
        if principal is None or principal.method != method:
            # No email in tokens (no personal data): handlers needing it read the account.
            principal = claims.principal = UserPrincipal(
                id=claims.sub, email="", roles=claims.roles, method=method, auth_time=claims.auth_time,
                token_claims=claims.raw, session_id=token if method == COOKIE_METHOD else None)
        return principal

    return authenticate
