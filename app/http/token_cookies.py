"""Browser transport for tokens (``tokens.cookie_transport``): HttpOnly cookies instead of
the JSON body, so page scripts never hold a token.

The access cookie goes to every path (SameSite=Lax, like the session cookie); the
refresh cookie only to /auth (SameSite=Strict: a cross-site page cannot make the
browser send it at all). Because a cookie rides along on cross-site requests, an
unsafe request authenticated by the access cookie needs ``X-CSRF-Token``: an HMAC
of the access token itself, handed out in each token reply (a new one per access
token), the same scheme as sessions use with the session id.
"""
from __future__ import annotations

from aiohttp import hdrs, web

from app.http.cookies import read_cookie, read_cookie_values
from app.sessions.ids import csrf_matches, csrf_token_for
from app.settings import TokenSettings
from app.tokens.errors import InvalidTokenRequestError

COOKIE_METHOD = "token-cookie"
REFRESH_PATH = "/auth"


class TokenCookies:
    def __init__(self, settings: TokenSettings) -> None:
        self.enabled = settings.cookie_transport
        self.access_name = settings.access_cookie
        self.refresh_name = settings.refresh_cookie
        self.secure = settings.cookie_secure

    def access(self, request: web.Request) -> str | None:
        return read_cookie(request.headers.get(hdrs.COOKIE, ""), self.access_name) if self.enabled else None

    def refresh(self, request: web.Request) -> str | None:
        """The refresh cookie to spend.

        :raises InvalidTokenRequestError: the request carries it more than once. Its Path=/auth
            rules out __Host-, so a sibling subdomain can plant one of the same name
            (Domain=<parent>, a longer path) that the browser sends first: spending whichever
            comes first could sign the user into the planter's account, so none is spent."""
        values = self.refresh_all(request)
        if len(values) > 1:
            raise InvalidTokenRequestError(
                f"The request carries more than one {self.refresh_name} cookie (one may have been planted "
                "by another site under this domain); log in again.", field="refresh_token")
        return values[0] if values else None

    def refresh_all(self, request: web.Request) -> list[str]:
        """Every refresh cookie presented: a logout or revocation ends each of them, so a
        planted one cannot shield the user's own login from ending."""
        return read_cookie_values(request.headers.get(hdrs.COOKIE, ""), self.refresh_name) if self.enabled else []

    def write(self, response: web.StreamResponse, *, access_token: str, expires_in: int, refresh_token: str,
              refresh_max_age: int) -> None:
        response.set_cookie(self.access_name, access_token, path="/", max_age=expires_in, secure=self.secure,
                            httponly=True, samesite="Lax")
        response.set_cookie(self.refresh_name, refresh_token, path=REFRESH_PATH, max_age=max(refresh_max_age, 0),
                            secure=self.secure, httponly=True, samesite="Strict")

    def clear(self, response: web.StreamResponse) -> None:
        for name, path, samesite in ((self.access_name, "/", "Lax"), (self.refresh_name, REFRESH_PATH, "Strict")):
            response.set_cookie(name, "", path=path, max_age=0, secure=self.secure, httponly=True, samesite=samesite,
                                expires="Thu, 01 Jan 1970 00:00:00 GMT")


def csrf_for_access_token(access_token: str) -> str:
    return csrf_token_for(access_token)


def csrf_matches_access_token(access_token: str, presented: str) -> bool:
    return bool(presented) and csrf_matches(access_token, presented)
