"""The replies that start a session: a successful login (password alone, or its second
step), and the caller's fresh session after a change that ended all of its user's logins."""
from __future__ import annotations

import logging

from aiohttp import web

from app.authz.principal import UserPrincipal
from app.db.users import UserRecord
from app.http.appkeys import SERVICES, SETTINGS
from app.http.cookies import CookieTransport
from app.http.device_cookie import DeviceCookie
from app.http.token_cookies import COOKIE_METHOD, TokenCookies
from app.http.views import session_reply
from app.outage import is_store_outage
from app.sessions.manager import StartedSession

log = logging.getLogger("app.http")


async def logged_in(request: web.Request, user: UserRecord, started: StartedSession) -> web.Response:
    """Session reply + session cookie + trusted-device cookie (only after every factor)."""
    settings = request.app[SETTINGS]
    record = started.record  # the profile the session holds (read again if roles changed meanwhile)
    response = web.json_response(session_reply(user_id=user.id, email=record.email, roles=record.roles,
                                               record=record, session_id=started.session_id))
    CookieTransport(settings.cookie).write(response, started.session_id)
    device = DeviceCookie(settings)
    # A password login trusted the device with its session; a second factor's login does it here,
    # dated from the password step (user.read_at): a device revocation since then (a password
    # change, MFA enrolment, forced logout) leaves this login without one.
    token = started.device_token
    if token is None:
        try:
            token = await request.app[SERVICES].accounts.remember_device(
                user.email, device.read(request), since=user.read_at)
        except Exception as e:
            if not is_store_outage(e):
                raise
            # The session is written and the code spent: a 503 now would leave the user with
            # neither, to start over. The browser is just not trusted this time.
            log.warning("login of %s: device not trusted, the store failed: %r", user.id, e)
    if token is not None:
        device.write(response, token)
    return response


def carry_on(request: web.Request, response: web.StreamResponse, caller: UserPrincipal,
             started: StartedSession | None) -> None:
    """After a change that ended every login of the caller's user (password change, MFA
    enrolment): a session caller carries on under the fresh session ``started``; a caller
    on token cookies has them cleared, or the dead access cookie would keep taking
    precedence (401) over anything newer."""
    settings = request.app[SETTINGS]
    if started is not None:
        CookieTransport(settings.cookie).write(response, started.session_id)
    elif caller.method == COOKIE_METHOD:
        TokenCookies(settings.tokens).clear(response)
