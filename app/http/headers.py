"""Security headers on every reply, errors included."""
from __future__ import annotations

from aiohttp import web

from app.http.appkeys import SETTINGS
from app.http.clientinfo import request_scheme

STATIC = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_STATIC_ITEMS = tuple(STATIC.items())
NO_STORE_PREFIXES = ("/auth/", "/admin/")


def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # Runs on every request: plain loops over precomputed pairs, no per-call allocation.
    headers = response.headers
    for name, value in _STATIC_ITEMS:
        if name not in headers:
            headers[name] = value
    if request.path.startswith(NO_STORE_PREFIXES):
        headers["Cache-Control"] = "no-store"
        if "Pragma" not in headers:
            headers["Pragma"] = "no-cache"
    if request_scheme(request) == "https":
        # RFC 6797: only on secure transport.
        headers["Strict-Transport-Security"] = (
            f"max-age={request.app[SETTINGS].security.hsts_max_age_s}; includeSubDomains")
