"""One middleware resolves the caller: Bearer, then the session cookie, then Basic."""
from __future__ import annotations

import logging

from aiohttp import hdrs, web

from app.authz.principal import ANONYMOUS, Principal, UserPrincipal
from app.errors import AuthError, ServiceUnavailableError, TooManyAttemptsError, UnauthenticatedError
from app.http.appkeys import AUTH_FAILURE, AUTHENTICATORS, FORGET_COOKIE, PRINCIPAL, SERVICES, request_id
from app.http.cookies import CookieTransport
from app.http.memo import SourceMemo
from app.sessions.record import HeldCredential

security_log = logging.getLogger("app.security")


async def authenticate(request: web.Request) -> None:
    """Resolve the caller into request[PRINCIPAL] (anonymous when no credential is presented)."""
    principal: Principal = ANONYMOUS
    for authenticate in request.app[AUTHENTICATORS]:
        try:
            found = await authenticate(request)
        except (ServiceUnavailableError, TooManyAttemptsError):
            raise  # 503 and 429 are answers in themselves, not "no credential"
        except AuthError as exc:
            # A presented but unusable credential is "no credential"; remember why,
            # so a protected route can answer 401 with the precise code.
            request[AUTH_FAILURE] = exc
            security_log.info("credential refused: %s", exc.code,
                              extra={"request_id": request_id(request)})
            break
        if found is not None:
            principal = found
            break
    request[PRINCIPAL] = principal


def cookie_authenticator(transport: CookieTransport, max_principals: int = 100_000):
    # The principal of a cached session record, built once per record object.
    principals: SourceMemo[UserPrincipal] = SourceMemo(max_principals)

    async def authenticate(request: web.Request) -> Principal | None:
        session_id = transport.read(request)
        if not session_id:
            return None
        try:
            record = await request.app[SERVICES].sessions.resolve(session_id)
        except UnauthenticatedError:
            # Expired, ended or never ours: whatever the route answers, the browser drops it.
            request[FORGET_COOKIE] = transport.forget
            raise
        return principals.get(session_id, record, lambda: UserPrincipal(
            id=record.user_id, email=record.email, roles=record.roles, method="session",
            auth_time=record.auth_time, session=record, session_id=session_id))

    return authenticate


def authorization_value(request: web.Request, scheme: str) -> str | None:
    """The credentials of an ``Authorization: <scheme> <credentials>`` header (scheme
    matched case-insensitively), stripped; None for no header or another scheme."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if not header:
        return None
    found, _, value = header.partition(" ")
    return value.strip() if found.lower() == scheme else None


def principal_of(request: web.Request) -> Principal:
    return request.get(PRINCIPAL, ANONYMOUS)


def require_user(request: web.Request) -> UserPrincipal:
    """The authenticated user behind the request.

    :raises UnauthenticatedError: anonymous callers (with the refused credential's code if any).
    """
    principal = principal_of(request)
    if isinstance(principal, UserPrincipal):
        return principal
    failure = request.get(AUTH_FAILURE)
    if isinstance(failure, UnauthenticatedError):
        raise failure
    raise UnauthenticatedError()


def held_credential(request: web.Request, user: UserPrincipal) -> HeldCredential:
    """The session or token ``user`` authenticated with, to be checked again as a change lands."""
    services = request.app[SERVICES]
    if user.session is not None:
        return services.sessions.held(user.session)
    return services.tokens.verifier.held(user.token_claims or {})


def require_session(request: web.Request) -> UserPrincipal:
    """A user authenticated by the session cookie (session-management routes)."""
    user = require_user(request)
    if user.session is None:
        raise UnauthenticatedError("This route needs a cookie session.")
    return user
