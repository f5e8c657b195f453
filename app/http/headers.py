"""Security headers on every reply, errors included, built once per app.

Every reply: nosniff, a CSP that allows nothing (this is a JSON API) with
``frame-ancestors 'none'``, no referrer, no framing, same-origin isolation.
/auth/* and /admin/*: ``Cache-Control: no-store``. HTTPS replies only (directly,
or as reported by a trusted proxy's X-Forwarded-Proto): HSTS (RFC 6797 forbids
it on plain http). CORS only when configured (app.http.cors).
"""
from __future__ import annotations

from aiohttp import hdrs, web
from multidict import istr

from app.http.clientinfo import request_scheme
from app.http.cors import CorsPolicy
from app.settings import Settings

STATIC = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
NO_STORE_PREFIXES = ("/auth/", "/admin/")


class SecurityHeaders:
    def __init__(self, settings: Settings) -> None:
        # Names as istr (as aiohttp.hdrs has them): a multidict takes them without case-folding
        # each one per request (extending a reply's headers by these 8 pairs: 640 -> 120 ns).
        self._static = tuple((istr(name), value) for name, value in STATIC.items())
        # The common case in one extend: a reply under /auth/ or /admin/ that set neither header.
        self._static_no_store = self._static + ((hdrs.CACHE_CONTROL, "no-store"), (hdrs.PRAGMA, "no-cache"))
        self._hsts = f"max-age={settings.security.hsts_max_age_s}; includeSubDomains"
        # Without trusted proxies the scheme is the connection's own (no header to read).
        self._proxied = bool(settings.http.trusted_proxies)
        self.cors = CorsPolicy(settings.http.cors_origin_set)

    def apply(self, request: web.Request, response: web.StreamResponse) -> None:
        # Runs on every request: plain loops over precomputed pairs, no per-call allocation.
        headers = response.headers
        no_store = request.path.startswith(NO_STORE_PREFIXES)
        if hdrs.CONTENT_SECURITY_POLICY in headers:  # a handler chose its own policy: keep what it set
            for name, value in self._static:
                if name not in headers:
                    headers[name] = value
        elif no_store and hdrs.CACHE_CONTROL not in headers and hdrs.PRAGMA not in headers:
            headers.extend(self._static_no_store)
            no_store = False  # done
        else:
            headers.extend(self._static)  # one call instead of six lookups and inserts
        if no_store:
            headers[hdrs.CACHE_CONTROL] = "no-store"
            if hdrs.PRAGMA not in headers:
                headers[hdrs.PRAGMA] = "no-cache"
        if (request_scheme(request) if self._proxied else request.scheme) == "https":
            headers[hdrs.STRICT_TRANSPORT_SECURITY] = self._hsts
        if self.cors.enabled:
            self.cors.decorate(request, response)


SECURITY_HEADERS = web.AppKey("security_headers", SecurityHeaders)


def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    request.app[SECURITY_HEADERS].apply(request, response)


def cors_preflight(request: web.Request) -> web.StreamResponse | None:
    """A CORS preflight's reply (answered before authentication), or None."""
    if request.method != "OPTIONS":
        return None
    return request.app[SECURITY_HEADERS].cors.preflight(request)
