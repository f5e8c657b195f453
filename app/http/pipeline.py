"""The one middleware every request passes through.

Each stage lives in the module of its concern; running them from one middleware
instead of a stack of five saves a handler wrapper and an await per stage, which
is a measurable share of a cached session check (see bench/REPORT.md).
Order: authenticate (who), CSRF (is it really them), guard (may they), the
handler; then errors become problem+json, a Basic exchange loses any cookie, and
every reply gets the security headers and is counted.
"""
from __future__ import annotations

import time

from aiohttp import web

from app.authz.guards import check_guard
from app.http.appkeys import FORGET_COOKIE
from app.http.authn import authenticate
from app.http.basic import strip_cookies_for_basic
from app.http.csrf import check_csrf
from app.http.errors import problem_for
from app.http.headers import add_security_headers, cors_preflight
from app.http.metrics import observe
from app.http.urlparams import check_url_params


@web.middleware
async def request_pipeline(request: web.Request, handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        # A CORS preflight carries no credentials: answered before authentication.
        response = cors_preflight(request)
        if response is None:
            check_url_params(request)
            await authenticate(request)
            check_csrf(request)
            await check_guard(request)
            response = await handler(request)
    except Exception as exc:  # CancelledError (a client gone) is a BaseException and passes
        response = problem_for(request, exc)
        if getattr(exc, "close_connection", False):
            response.force_close()  # the request's body left the connection unusable (app.http.body)
    forget_cookie = request.get(FORGET_COOKIE)
    if forget_cookie is not None:
        forget_cookie(response)
    strip_cookies_for_basic(request, response)
    add_security_headers(request, response)
    observe(request, response, started)
    return response
