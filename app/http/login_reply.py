"""The reply that ends a successful login (password alone, or its second step)."""
from __future__ import annotations

from aiohttp import web

from app.db.users import UserRecord
from app.http.appkeys import SERVICES, SETTINGS
from app.http.cookies import CookieTransport
from app.http.device_cookie import DeviceCookie
from app.http.views import session_reply
from app.sessions.manager import StartedSession


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
    token = started.device_token or await request.app[SERVICES].accounts.remember_device(
        user.email, device.read(request), since=user.read_at)
    if token is not None:
        device.write(response, token)
    return response
