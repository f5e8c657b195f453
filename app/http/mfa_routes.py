"""/auth/login/mfa and /auth/mfa/totp/*: the second login step and TOTP enrolment."""
from __future__ import annotations

from aiohttp import web

from app.authz.principal import UserPrincipal
from app.http.appkeys import SERVICES
from app.http.authn import held_credential, principal_of, require_user
from app.http.body import read_model
from app.http.clientinfo import client_info
from app.http.device_cookie import presented_device
from app.http.login_reply import carry_on, logged_in
from app.http.mfa_schemas import MfaCode, MfaDisable, MfaLogin
from app.http.stepup import require_recent_auth
from app.sessions.ids import csrf_token_for

routes = web.RouteTableDef()


@routes.post("/auth/login/mfa")
async def login_second_factor(request: web.Request) -> web.Response:
    body = await read_model(request, MfaLogin)
    current = principal_of(request)
    previous = current.session if isinstance(current, UserPrincipal) else None
    user, started = await request.app[SERVICES].accounts.login_second_factor(
        body.mfa_token, body.code, client_info(request), previous=previous, device=presented_device(request))
    return await logged_in(request, user, started)


@routes.get("/auth/mfa/totp")
async def totp_status(request: web.Request) -> web.Response:
    user = require_user(request)
    return web.json_response(await request.app[SERVICES].mfa.status(user.id))


@routes.post("/auth/mfa/totp/setup")
@require_recent_auth
async def totp_setup(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    user = await services.accounts.active_user(require_user(request).id)
    setup = await services.mfa.begin_setup(user, client_info(request))
    return web.json_response({"secret": setup.secret, "otpauth_uri": setup.otpauth_uri,
                              "qr_svg": setup.qr_svg}, status=201)


@routes.post("/auth/mfa/totp/confirm")
@require_recent_auth
async def totp_confirm(request: web.Request) -> web.Response:
    body = await read_model(request, MfaCode)
    services = request.app[SERVICES]
    caller = require_user(request)
    codes, started = await services.accounts.enable_mfa(
        caller.id, body.code, client_info(request), held=held_credential(request, caller),
        caller_session=caller.session, device=presented_device(request))
    # Every login of the user ended, as at a password change; the fan-out revokes the tokens.
    await services.forced_logout.after_logins_ended(caller.id, "mfa_enabled")
    reply: dict = {"enabled": True, "recovery_codes": codes}
    if started is not None:
        reply["csrf_token"] = csrf_token_for(started.session_id)  # the fresh session's
    response = web.json_response(reply)
    carry_on(request, response, caller, started)
    return response


@routes.post("/auth/mfa/totp/disable")
@require_recent_auth
async def totp_disable(request: web.Request) -> web.Response:
    body = await read_model(request, MfaDisable)
    services = request.app[SERVICES]
    user = await services.accounts.active_user(require_user(request).id)
    await services.mfa.disable(user, body.password, body.code, client_info(request), device=presented_device(request))
    return web.Response(status=204)


@routes.post("/auth/mfa/totp/recovery-codes")
@require_recent_auth
async def new_recovery_codes(request: web.Request) -> web.Response:
    body = await read_model(request, MfaCode)
    services = request.app[SERVICES]
    user = await services.accounts.active_user(require_user(request).id)
    codes = await services.mfa.regenerate_recovery_codes(user, body.code, client_info(request),
                                                         device=presented_device(request))
    return web.json_response({"recovery_codes": codes})
