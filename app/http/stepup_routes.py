"""POST /auth/reauthenticate: confirm the password (and code) to refresh auth_time."""
from __future__ import annotations

from aiohttp import web

from app.http.appkeys import SERVICES
from app.http.authn import require_session
from app.http.body import read_model
from app.http.clientinfo import client_info
from app.http.device_cookie import presented_device
from app.http.login_reply import logged_in
from app.http.mfa_schemas import Reauthentication

routes = web.RouteTableDef()


@routes.post("/auth/reauthenticate")
async def reauthenticate(request: web.Request) -> web.Response:
    # Cookie sessions only: a token client steps up with a fresh password grant.
    user = require_session(request)
    body = await read_model(request, Reauthentication)
    services = request.app[SERVICES]
    # The account as read for the password check, not afresh: the device this step trusts is
    # dated from that read, so a revocation since (a password change) leaves it without one.
    account, started = await services.accounts.reauthenticate(
        user.id, body.password, body.code, client_info(request), current=user.session,
        device=presented_device(request))
    return await logged_in(request, account, started)
