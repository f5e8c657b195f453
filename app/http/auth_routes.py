"""/auth/*: register, login, logout, the current session, the user's sessions, password."""
from __future__ import annotations

from aiohttp import web

from app.authz.principal import UserPrincipal
from app.errors import InvalidCredentialsError, UnauthenticatedError
from app.http.appkeys import SERVICES, SESSION_REPLIES, SETTINGS
from app.http.authn import held_credential, principal_of, require_session, require_user
from app.http.body import read_model
from app.http.clientinfo import client_info
from app.http.cookies import CookieTransport
from app.http.device_cookie import presented_device
from app.http.login_reply import carry_on, logged_in
from app.http.stepup import require_recent_auth
from app.passwords.policy import normalize
from app.mfa.manager import MfaPending
from app.http.schemas import Credentials, PasswordChange
from app.http.views import session_item, session_reply
from app.sessions.record import SessionRecord
from app.http.token_routes import end_token_login

routes = web.RouteTableDef()


def _cookies(request: web.Request) -> CookieTransport:
    return CookieTransport(request.app[SETTINGS].cookie)


@routes.post("/auth/register")
async def register(request: web.Request) -> web.Response:
    body = await read_model(request, Credentials)
    registered = await request.app[SERVICES].accounts.register(body.email, body.password, client_info(request))
    return web.json_response({"id": registered.id, "email": registered.email}, status=201)


@routes.post("/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await read_model(request, Credentials)
    services = request.app[SERVICES]
    if len(normalize(body.password)) > request.app[SETTINGS].password.max_length:
        # No account has such a password (the policy counts it normalized, as typed it may be
        # longer): never hash it.
        raise InvalidCredentialsError()
    current = principal_of(request)
    previous = current.session if isinstance(current, UserPrincipal) else None
    user, outcome = await services.accounts.login(body.email, body.password, client_info(request),
                                                  previous=previous,
                                                  device=presented_device(request))
    if isinstance(outcome, MfaPending):
        # No session (and no cookie) until the second factor: POST /auth/login/mfa.
        return web.json_response({"mfa_required": True, "mfa_token": outcome.mfa_token,
                                  "expires_in": outcome.expires_in, "methods": ["totp", "recovery_code"]})
    return await logged_in(request, user, outcome)


@routes.get("/auth/session")
async def current_session(request: web.Request) -> web.Response:
    user = require_session(request)
    record = user.session
    body = request.app[SESSION_REPLIES].body(record.sid_hash, record, lambda: session_reply(
        user_id=record.user_id, email=record.email, roles=record.roles, record=record,
        session_id=user.session_id))
    return web.Response(body=body, content_type="application/json")


@routes.post("/auth/logout")
async def logout(request: web.Request) -> web.Response:
    user = require_user(request)
    response = web.Response(status=204)
    session = user.session or await _presented_session(request)
    if session is not None:
        await request.app[SERVICES].sessions.logout(session, client_info(request))
    if session is not None or _cookies(request).read(request):
        _cookies(request).clear(response)
    # Token callers: the presented access token (and a cookie-borne refresh family) end too.
    await end_token_login(request, response)
    return response


async def _presented_session(request: web.Request) -> SessionRecord | None:
    """The live session of a session cookie sent beside the access cookie that authenticated
    the request (which takes precedence): logging out of the browser ends it as well."""
    session_id = _cookies(request).read(request)
    if not session_id:
        return None
    try:
        return await request.app[SERVICES].sessions.resolve(session_id)
    except UnauthenticatedError:  # SessionExpiredError too: nothing left to end
        return None


@routes.get("/auth/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    user = require_user(request)
    records = await request.app[SERVICES].sessions.list(user.id)
    current = user.session.sid_hash if user.session else None
    return web.json_response({"sessions": [session_item(r, current=r.sid_hash == current) for r in records]})


@routes.delete("/auth/sessions/{handle}")
async def end_session(request: web.Request) -> web.Response:
    user = require_user(request)
    await request.app[SERVICES].sessions.end_by_handle(user.id, request.match_info["handle"],
                                                       client_info(request))
    response = web.Response(status=204)
    if user.session is not None and user.session.handle == request.match_info["handle"]:
        _cookies(request).clear(response)
    return response


@routes.delete("/auth/sessions")
async def end_other_sessions(request: web.Request) -> web.Response:
    user = require_user(request)
    keep = user.session.sid_hash if user.session else None
    await request.app[SERVICES].sessions.end_all(user.id, client_info(request), reason="user", keep=keep)
    return web.Response(status=204)


@routes.post("/auth/password")
@require_recent_auth
async def change_password(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await read_model(request, PasswordChange)
    started = await request.app[SERVICES].accounts.change_password(
        user.id, body.current_password, body.new_password, client_info(request),
        held=held_credential(request, user), caller_session=user.session, device=presented_device(request))
    # Sessions ended and the epoch set above; the worker's fan-out revokes the tokens.
    await request.app[SERVICES].forced_logout.after_logins_ended(user.id, "password_changed")
    response = web.Response(status=204)
    carry_on(request, response, user, started)
    return response
