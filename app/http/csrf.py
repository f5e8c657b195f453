"""CSRF defence: a synchronizer token for cookie-authenticated unsafe requests,
and an Origin check where a session does not exist yet (login, register)."""
from __future__ import annotations

from aiohttp import hdrs, web
from multidict import istr

from app.authz.principal import UserPrincipal
from app.errors import CsrfError
from app.http.appkeys import PRINCIPAL, SETTINGS
from app.http.clientinfo import request_scheme
from app.http.token_cookies import COOKIE_METHOD, csrf_matches_access_token
from app.sessions.ids import csrf_matches

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Routes that create a session check Origin instead (there is no token yet), and
# /auth/revoke, which may act on the token cookies alone (once the access cookie has
# expired, the refresh cookie is the only credential: SameSite=Strict keeps other
# sites out, not other origins of the same site).
ORIGIN_CHECKED = frozenset({"/auth/login", "/auth/register", "/auth/login/mfa", "/auth/token", "/auth/revoke"})
X_CSRF_TOKEN = istr("X-CSRF-Token")  # istr, as aiohttp.hdrs names: looked up without case-folding


def origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        return True  # non-browser clients; SameSite=Lax covers old browsers
    origin = origin.rstrip("/")
    own = f"{request_scheme(request)}://{request.host}"
    http = request.app[SETTINGS].http
    # An origin allowed cross-origin access (CORS) may also send cookie requests; the
    # CSRF token is still required of it.
    return origin == own or origin in http.allowed_origin_set or origin in http.cors_origin_set


def check_csrf(request: web.Request) -> None:
    """:raises CsrfError: an unsafe cookie-authenticated request without the session's token,
    or a login/register from a foreign Origin."""
    if request.method in UNSAFE:
        principal = request.get(PRINCIPAL)
        if request.path in ORIGIN_CHECKED:
            if not origin_allowed(request):
                raise CsrfError("The request's Origin is not allowed.")
        elif isinstance(principal, UserPrincipal) and principal.method == COOKIE_METHOD:
            # An access token carried by a cookie rides along cross-site just like a session.
            if not csrf_matches_access_token(principal.session_id or "", request.headers.get(X_CSRF_TOKEN, "")):
                raise CsrfError("Send the token reply's CSRF token in X-CSRF-Token.")
            if not origin_allowed(request):
                raise CsrfError("The request's Origin is not allowed.")
        elif isinstance(principal, UserPrincipal) and principal.method == "session":
            presented = request.headers.get(X_CSRF_TOKEN, "")
            if not presented or not csrf_matches(principal.session_id or "", presented):
                raise CsrfError("Send the session's CSRF token in X-CSRF-Token.")
            if not origin_allowed(request):
                raise CsrfError("The request's Origin is not allowed.")
