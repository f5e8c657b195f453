"""The session cookie on the wire: reading it cheaply and writing it with safe flags."""
from __future__ import annotations

from aiohttp import hdrs, web

from app.settings import CookieSettings


def read_cookie(header: str, name: str) -> str | None:
    """One cookie's value from a Cookie header, without parsing every cookie
    (SimpleCookie costs a measurable share of a request)."""
    if not header:
        return None
    prefix = name + "="
    for part in header.split(";"):
        part = part.strip()
        if part.startswith(prefix):
            return part[len(prefix):].strip('"')
    return None


def read_cookie_values(header: str, name: str) -> list[str]:
    """Every value a Cookie header carries under ``name``, in the order sent. More than one
    means cookies of the same name from different paths or domains, such as one a sibling
    subdomain planted (cookie tossing): the browser sends the longer path first, so "the
    first one" may well be the planted one."""
    prefix = name + "="
    return [part[len(prefix):].strip('"') for part in (p.strip() for p in header.split(";"))
            if part.startswith(prefix)] if header else []


class CookieTransport:
    def __init__(self, settings: CookieSettings) -> None:
        self.name = settings.name
        self.secure = settings.secure
        self.samesite = settings.samesite

    def read(self, request: web.Request) -> str | None:
        return read_cookie(request.headers.get(hdrs.COOKIE, ""), self.name)

    def write(self, response: web.StreamResponse, session_id: str) -> None:
        # No Max-Age: a browser-session cookie; the server enforces idle and absolute timeouts.
        response.set_cookie(self.name, session_id, path="/", secure=self.secure, httponly=True,
                            samesite=self.samesite)

    def clear(self, response: web.StreamResponse) -> None:
        response.set_cookie(self.name, "", path="/", max_age=0, secure=self.secure, httponly=True,
                            samesite=self.samesite, expires="Thu, 01 Jan 1970 00:00:00 GMT")

    def forget(self, response: web.StreamResponse) -> None:
        """Clear a dead cookie, unless the reply sets a new one (a login over it)."""
        if self.name not in response.cookies and not response.prepared:
            self.clear(response)
