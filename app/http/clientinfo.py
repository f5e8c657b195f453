"""Where a request came from, believing X-Forwarded-* only from trusted proxies."""
from __future__ import annotations

import functools
import ipaddress

from aiohttp import hdrs, web

from app.http.appkeys import SETTINGS
from app.sessions.manager import ClientInfo


def _text(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, as text every later layer can encode: aiohttp
    hands header bytes that are not UTF-8 over as lone surrogates, which encode() refuses."""
    value = value[:limit]
    return value if value.isascii() else value.encode("utf-8", "replace").decode()


@functools.lru_cache(maxsize=8)
def _networks(trusted_proxies: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    # Settings refused any entry that does not parse (HttpSettings._proxies_are_addresses).
    return tuple(_unmapped(ipaddress.ip_network(p.strip(), strict=False))
                 for p in trusted_proxies.split(",") if p.strip())


def _unmapped(network):
    """An IPv4-mapped IPv6 network (::ffff:10.0.0.0/104) as the IPv4 network it maps."""
    mapped = getattr(network.network_address, "ipv4_mapped", None)
    if mapped is None or network.prefixlen < 96:
        return network
    return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")


@functools.lru_cache(maxsize=4096)
def _is_proxy(trusted_proxies: str, address: str) -> bool:
    """Whether ``address`` is one of the trusted proxies: compared as addresses, so that
    networks (10.0.0.0/8) and other spellings of one address (::ffff:10.0.0.1) match."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(trusted_proxies))


def _from_trusted_proxy(request: web.Request) -> bool:
    trusted = request.app[SETTINGS].http.trusted_proxies
    # Every request asks; most deployments trust no proxy, so answer that first.
    return bool(trusted) and _is_proxy(trusted, request.remote or "")


def client_ip(request: web.Request) -> str:
    remote = request.remote or ""
    if not _from_trusted_proxy(request):
        return remote
    trusted = request.app[SETTINGS].http.trusted_proxies
    # Several lines are one list in order (RFC 9110 5.3): a proxy may append its own line
    # instead of extending the client's, which must not make the client's line the one read.
    hops = [h.strip() for line in request.headers.getall(hdrs.X_FORWARDED_FOR, ()) for h in line.split(",")
            if h.strip()]
    # Walk from the right: the first address not one of our proxies is the client.
    for hop in reversed(hops):
        if not _is_proxy(trusted, hop):
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
