"""CORS: off unless ``http.cors_origins`` lists origins; then exactly those origins
(never a reflected arbitrary one, never ``null``, never ``*``) get credentialed
access, and their preflights are answered before authentication runs."""
from __future__ import annotations

from aiohttp import hdrs, web

from app.http.problem import problem_response

ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
ALLOWED_HEADERS = ("authorization", "content-type", "x-csrf-token", "x-request-id")
EXPOSED_HEADERS = "Retry-After, WWW-Authenticate, X-Request-ID"
MAX_AGE_S = "600"


class CorsConfigError(ValueError):
    pass


class CorsPolicy:
    def __init__(self, origins: frozenset[str]) -> None:
        for origin in origins:
            if origin in ("*", "null") or "://" not in origin:
                raise CorsConfigError(
                    f"http.cors_origins must list full origins (https://app.example); {origin!r} is not allowed")
        self.origins = origins
        self.enabled = bool(origins)
        self._allow_methods = ", ".join(ALLOWED_METHODS)
        self._allow_headers = ", ".join(ALLOWED_HEADERS)

    def preflight(self, request: web.Request) -> web.StreamResponse | None:
        """The reply to a CORS preflight, or None when this is not one (or CORS is off)."""
        if not self.enabled or request.method != "OPTIONS":
            return None
        origin = request.headers.get(hdrs.ORIGIN)
        wanted = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_METHOD)
        if origin is None or wanted is None:
            return None
        asked_headers = {h.strip().lower() for h in request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "").split(",")
                         if h.strip()}
        if (origin not in self.origins or wanted.upper() not in ALLOWED_METHODS
                or not asked_headers <= set(ALLOWED_HEADERS)):
            response = problem_response(status=403, code="cors_refused", title="Cross-origin request refused",
                                        detail="This origin, method or header is not allowed.")
            response.headers["Vary"] = "Origin"
            return response
        response = web.Response(status=204)
        h = response.headers
        h["Access-Control-Allow-Origin"] = origin
        h["Access-Control-Allow-Credentials"] = "true"
        h["Access-Control-Allow-Methods"] = self._allow_methods
        h["Access-Control-Allow-Headers"] = self._allow_headers
        h["Access-Control-Max-Age"] = MAX_AGE_S
        h["Vary"] = "Origin"
        return response

    def decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        """CORS headers on an actual reply from a listed origin (nothing otherwise)."""
        origin = request.headers.get(hdrs.ORIGIN)
        h = response.headers
        h["Vary"] = "Origin"  # the reply differs by Origin: caches must key on it
        if request.method == "OPTIONS" and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
            return  # a preflight: preflight() decided everything, a refusal gets nothing more
        if origin is not None and origin in self.origins and "Access-Control-Allow-Origin" not in h:
            h["Access-Control-Allow-Origin"] = origin
            h["Access-Control-Allow-Credentials"] = "true"
            h["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
