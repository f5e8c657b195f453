"""Where a request came from, believing X-Forwarded-* only from trusted proxies."""
from __future__ import annotations

from aiohttp import hdrs, web

from app.http.appkeys import SETTINGS
from app.sessions.manager import ClientInfo


def _text(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, as text every later layer can encode: aiohttp
    hands header bytes that are not UTF-8 over as lone surrogates, which encode() refuses."""
    value = value[:limit]
    return value if value.isascii() else value.encode("utf-8", "replace").decode()


def _from_trusted_proxy(request: web.Request) -> bool:
    http = request.app[SETTINGS].http
    # Every request asks; most deployments trust no proxy, so answer that without building a set.
    return bool(http.trusted_proxies) and request.remote in http.trusted_proxy_set


def client_ip(request: web.Request) -> str:
    remote = request.remote or ""
    if not _from_trusted_proxy(request):
        return remote
    trusted = request.app[SETTINGS].http.trusted_proxy_set
    hops = [h.strip() for h in request.headers.get(hdrs.X_FORWARDED_FOR, "").split(",") if h.strip()]
    # Walk from the right: the first address not one of our proxies is the client.
    for hop in reversed(hops):
        if hop not in trusted:
            return _text(hop, 64)
    return remote


def request_scheme(request: web.Request) -> str:
    if _from_trusted_proxy(request):
        # The nearest proxy's value is the last: a proxy that appends to the header (rather
        # than replacing it) leaves the client's own "https" first.
        values = request.headers.getall(hdrs.X_FORWARDED_PROTO, ())
        proto = values[-1].rsplit(",", 1)[-1].strip().lower() if values else ""
        if proto in ("http", "https"):
            return proto
    return request.scheme


def client_info(request: web.Request) -> ClientInfo:
    return ClientInfo(ip=client_ip(request), user_agent=_text(request.headers.get(hdrs.USER_AGENT, ""), 256))
