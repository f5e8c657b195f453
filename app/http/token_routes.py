"""Token endpoints: POST /auth/token, /auth/revoke, /auth/introspect; GET /.well-known/jwks.json."""
from __future__ import annotations

from typing import TypeVar

import pydantic
from aiohttp import web

from app.clock import now_s
from app.errors import MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError
from app.http.appkeys import ME_REPLIES, PRINCIPAL, SERVICES, SETTINGS
from app.http.basic import require_client
from app.http.body import parse, read_body
from app.http.clientinfo import client_info
from app.http.device_cookie import presented_device
from app.http.token_cookies import COOKIE_METHOD, TokenCookies, csrf_for_access_token
from app.http.token_schemas import MFA_GRANT, IntrospectRequest, RevokeRequest, TokenRequest
from app.authz.guards import require_authenticated
from app.authz.principal import UserPrincipal
from app.tokens.errors import InvalidTokenRequestError, UnsupportedGrantTypeError
from app.tokens.service import IssuedTokens

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
JWKS_MAX_AGE_S = 60  # resource servers refetch on an unknown kid anyway
# Everything read_body and parse raise: on an OAuth endpoint each is an invalid_request.
_BODY_ERRORS = (MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError)
M = TypeVar("M", bound=pydantic.BaseModel)


def _cookies(request: web.Request) -> TokenCookies:
    return TokenCookies(request.app[SETTINGS].tokens)


async def _oauth_body(request: web.Request, model: type[M]) -> M:
    """The body of /auth/token, /auth/revoke or /auth/introspect (JSON or form).

    :raises InvalidTokenRequestError: any body problem, so that OAuth clients can read it."""
    try:
        return parse(model, await read_body(request, form_ok=True))
    except _BODY_ERRORS as e:
        raise InvalidTokenRequestError.from_body_error(e) from e


def _need(value: str | None, name: str) -> str:
    if not value:
        raise InvalidTokenRequestError(f"{name} is required for this grant_type.", field=name)
    return value


def _reply(request: web.Request, issued: IssuedTokens) -> web.Response:
    cookies = _cookies(request)
    if not cookies.enabled:
        return web.json_response(issued.reply(), headers=NO_STORE)
    # Browser transport: the tokens go to HttpOnly cookies; the page gets what it may hold.
    response = web.json_response({"token_type": "Bearer", "expires_in": issued.expires_in,
                                  "csrf_token": csrf_for_access_token(issued.access_token)}, headers=NO_STORE)
    cookies.write(response, access_token=issued.access_token, expires_in=issued.expires_in,
                  refresh_token=issued.refresh_token, refresh_max_age=int(issued.refresh_expires_at - now_s()))
    return response


@routes.post("/auth/token")
async def token(request: web.Request) -> web.Response:
    body = await _oauth_body(request, TokenRequest)
    tokens = request.app[SERVICES].tokens
    client = client_info(request)
    if body.grant_type == "password":
        issued = await tokens.password_grant(_need(body.username, "username"), _need(body.password, "password"),
                                             client)
    elif body.grant_type == "refresh_token":
        refresh = body.refresh_token or _cookies(request).refresh(request)
        issued = await tokens.refresh_grant(_need(refresh, "refresh_token"), client)
    elif body.grant_type == MFA_GRANT:
        issued = await tokens.mfa_grant(_need(body.mfa_token, "mfa_token"), _need(body.code, "code"), client,
                                        device=presented_device(request))
    else:
        raise UnsupportedGrantTypeError()
    return _reply(request, issued)


@routes.post("/auth/revoke")
async def revoke(request: web.Request) -> web.Response:
    body = await _oauth_body(request, RevokeRequest)
    tokens = request.app[SERVICES].tokens
    client = client_info(request)
    cookies = _cookies(request)
    presented = [body.token] if body.token else [*cookies.refresh_all(request), *filter(None, [cookies.access(request)])]
    if not presented:
        raise InvalidTokenRequestError("token is required.", field="token")
    for value in presented:
        # RFC 7009 §2.2: 200 whether or not the token was known or valid.
        await tokens.revoke(value, client)
    response = web.Response(status=200, headers=NO_STORE)
    if not body.token and cookies.enabled:
        cookies.clear(response)
    return response


@routes.post("/auth/introspect")
async def introspect(request: web.Request) -> web.Response:
    require_client(request)
    body = await _oauth_body(request, IntrospectRequest)
    return web.json_response(await request.app[SERVICES].tokens.introspect(body.token), headers=NO_STORE)


@routes.get("/auth/me")
@require_authenticated()
async def me(request: web.Request) -> web.Response:
    """Who the credential says the caller is, for any method (a userinfo-like echo: no lookups)."""
    principal = request[PRINCIPAL]

    def reply() -> dict:
        return {"id": principal.id, "kind": principal.kind, "roles": list(principal.roles),
                "method": principal.method}

    if getattr(principal, "token_claims", None) is None:
        return web.json_response(reply())
    # A verified token's principal is cached with it: encode its reply once, not per request.
    return web.Response(body=request.app[ME_REPLIES].body(id(principal), principal, reply),
                        content_type="application/json")


@routes.get("/.well-known/jwks.json")
async def jwks(request: web.Request) -> web.Response:
    tokens = request.app[SERVICES].tokens
    await tokens.keyring.refresh_if_due()
    return web.Response(body=tokens.jwks_body, content_type="application/json",
                        headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_S}"})


async def end_token_login(request: web.Request, response: web.StreamResponse) -> None:
    """Logout for token callers: the presented access token (Bearer or cookie) is revoked with
    its refresh family (the token's ``sid``), and under the browser transport the refresh
    cookie's family too, and the cookies cleared."""
    tokens = request.app[SERVICES].tokens
    principal = request.get(PRINCIPAL)
    client = client_info(request)
    if isinstance(principal, UserPrincipal) and principal.method in ("bearer", COOKIE_METHOD):
        # The token and its refresh family: the login ends, not only this access token.
        await tokens.end_login(await tokens.verifier.verify_offline(_presented_access(request)), client,
                               reason="logout")
    cookies = _cookies(request)
    if cookies.enabled:
        for refresh in cookies.refresh_all(request):
            await tokens.revoke(refresh, client, reason="logout")
        cookies.clear(response)


def _presented_access(request: web.Request) -> str:
    from app.http.bearer import bearer_token

    return bearer_token(request) or _cookies(request).access(request) or ""
