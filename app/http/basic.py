"""The HTTP Basic authenticator for API clients (RFC 7617).

Refused over plain http unless ``http.allow_insecure_basic`` (behind a TLS proxy,
X-Forwarded-Proto counts only from ``http.trusted_proxies``). No cookie is ever set
on a Basic-authenticated reply (see ``strip_cookies_for_basic``).
"""
from __future__ import annotations

import base64
import binascii

from aiohttp import web

from app.authz.principal import ClientPrincipal, Principal
from app.clients.manager import InvalidClientError
from app.errors import AuthError, UnauthenticatedError
from app.http.appkeys import PRINCIPAL, SERVICES, SETTINGS
from app.http.authn import authorization_value
from app.http.clientinfo import client_info, request_scheme

BASIC_ATTEMPTED = web.RequestKey("basic_attempted", bool)


class InsecureTransportError(UnauthenticatedError):
    # An UnauthenticatedError so a protected route reports it, but 403: sending the
    # credentials again over the same channel will never work.
    status, code, title = 403, "insecure_transport", "HTTPS required"
    detail = "HTTP Basic credentials are accepted only over https."


def basic_credentials(request: web.Request, realm: str) -> tuple[str, str] | None:
    """(client_id, secret) of an ``Authorization: Basic`` header, None for another scheme.

    :raises InvalidClientError: a Basic header that does not decode to ``id:secret``."""
    value = authorization_value(request, "basic")
    if value is None:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise InvalidClientError(realm, "The Basic credentials are not base64 of client_id:secret.") from e
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id or not secret:
        raise InvalidClientError(realm, "The Basic credentials are not base64 of client_id:secret.")
    return client_id, secret


def basic_authenticator():
    async def authenticate(request: web.Request) -> Principal | None:
        settings = request.app[SETTINGS]
        realm = settings.clients.realm
        credentials = basic_credentials(request, realm)
        if credentials is None:
            return None
        request[BASIC_ATTEMPTED] = True
        if request_scheme(request) != "https" and not settings.http.allow_insecure_basic:
            raise InsecureTransportError()
        return await request.app[SERVICES].clients.authenticate(*credentials, client_info(request), realm=realm)

    return authenticate


def require_client(request: web.Request) -> ClientPrincipal:
    """The API client behind a Basic-authenticated request.

    :raises InvalidClientError: (401 with the Basic challenge) anything else.
    :raises InsecureTransportError: Basic over plain http."""
    principal = request.get(PRINCIPAL)
    if isinstance(principal, ClientPrincipal):
        return principal
    from app.http.appkeys import AUTH_FAILURE

    failure = request.get(AUTH_FAILURE)
    if isinstance(failure, (InvalidClientError, InsecureTransportError)) or (
            isinstance(failure, AuthError) and failure.status == 429):
        raise failure
    raise InvalidClientError(request.app[SETTINGS].clients.realm,
                             "This route needs HTTP Basic credentials of an API client.")


def strip_cookies_for_basic(request: web.Request, response: web.StreamResponse) -> None:
    """A Basic-authenticated exchange never sets a cookie (a pipeline stage, run on every reply)."""
    # The header test first: request.get() of an absent key raises and catches a KeyError.
    if authorization_value(request, "basic") is not None and request.get(BASIC_ATTEMPTED):
        response.cookies.clear()
        if "Set-Cookie" in response.headers:
            response.headers.popall("Set-Cookie")
