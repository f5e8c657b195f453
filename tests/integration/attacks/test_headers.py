"""Security headers and CORS on the wire, including the replies attackers provoke."""
import ssl

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from app.http.cors import CorsConfigError
from app.http.headers import SecurityHeaders
from app.http.appkeys import SETTINGS
from tests.support.browser import Browser, new_email

APP = "https://app.example.com"
EVIL = "https://evil.example.net"


def check_common(reply) -> None:
    h = reply.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    csp = h["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert h["Referrer-Policy"] == "no-referrer" and h["X-Frame-Options"] == "DENY"


async def test_every_reply_gets_the_headers_errors_included(client):
    replies = [await client.get("/healthz"), await client.get("/auth/session"), await client.get("/nope"),
               await client.put("/auth/login"),
               await client.post("/auth/login", data=b"{", headers={"Content-Type": "application/json"})]
    assert [r.status for r in replies] == [200, 401, 404, 405, 400]
    for reply in replies:
        check_common(reply)
        assert "Strict-Transport-Security" not in reply.headers  # plain http: never (RFC 6797)
    for reply in replies[1:2] + replies[3:]:
        assert reply.headers["Cache-Control"] == "no-store"  # every /auth/* reply, errors too
    assert "no-store" not in replies[0].headers.get("Cache-Control", "")


async def test_forwarded_proto_is_believed_only_from_a_trusted_proxy(serve, make_settings):
    untrusted = await serve(make_settings())
    reply = await untrusted.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in reply.headers
    trusted = await serve(make_settings(http={"trusted_proxies": "127.0.0.1"},
                                        security={"hsts_max_age_s": 31536000}))
    reply = await trusted.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert reply.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    reply = await trusted.get("/healthz", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in reply.headers


def test_hsts_on_a_direct_tls_request(make_settings):
    settings = make_settings()
    app = web.Application()
    app[SETTINGS] = settings
    tls = make_mocked_request("GET", "/healthz", app=app, sslcontext=ssl.create_default_context())
    plain = make_mocked_request("GET", "/healthz", app=app)
    headers = SecurityHeaders(settings)
    for request, expected in ((tls, True), (plain, False)):
        response = web.Response()
        headers.apply(request, response)
        assert ("Strict-Transport-Security" in response.headers) is expected


async def test_cors_is_off_by_default(client):
    reply = await client.get("/auth/session", headers={"Origin": EVIL})
    assert not any(k.lower().startswith("access-control-") for k in reply.headers)
    pre = await client.options("/auth/login", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert pre.status == 405 and "Access-Control-Allow-Origin" not in pre.headers


async def test_cors_echoes_only_listed_origins(serve, make_settings):
    client = await serve(make_settings(http={"cors_origins": f"{APP}, https://other.example.org"}))
    ok = await client.get("/auth/session", headers={"Origin": APP})
    assert ok.headers["Access-Control-Allow-Origin"] == APP
    assert ok.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in ok.headers["Vary"] and "Retry-After" in ok.headers["Access-Control-Expose-Headers"]
    for origin in (EVIL, "null", APP + ".evil.net", "http://app.example.com", APP.upper()):
        reply = await client.get("/auth/session", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in reply.headers, origin
        assert "Access-Control-Allow-Credentials" not in reply.headers, origin
        assert reply.headers["Vary"] == "Origin"


async def test_preflight_for_listed_origins_only(serve, make_settings):
    client = await serve(make_settings(http={"cors_origins": APP}))
    pre = await client.options("/auth/password", headers={
        "Origin": APP, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type, X-CSRF-Token"})
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == APP
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "x-csrf-token" in pre.headers["Access-Control-Allow-Headers"]
    check_common(pre)
    for headers in ({"Origin": EVIL, "Access-Control-Request-Method": "POST"},
                    {"Origin": APP, "Access-Control-Request-Method": "TRACE"},
                    {"Origin": APP, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "X-Evil"}):
        refused = await client.options("/auth/password", headers=headers)
        assert refused.status == 403 and (await refused.json())["code"] == "cors_refused", headers
        assert "Access-Control-Allow-Origin" not in refused.headers


async def test_a_listed_origin_can_log_in_cross_origin_and_still_needs_csrf(serve, make_settings):
    settings = make_settings(http={"cors_origins": APP}, cookie={"name": "sid", "secure": False})
    client = await serve(settings)
    browser = Browser(client, "sid")
    email = new_email()
    assert (await browser.request("POST", "/auth/register", json={"email": email, "password": "x" * 20 + " long"},
                                  headers={"Origin": APP})).status == 201
    login = await browser.request("POST", "/auth/login", json={"email": email, "password": "x" * 20 + " long"},
                                  headers={"Origin": APP})
    assert login.status == 200
    evil = await browser.request("POST", "/auth/login", json={"email": email, "password": "x" * 20 + " long"},
                                 headers={"Origin": EVIL})
    assert evil.status == 403
    no_token = await client.post("/auth/logout", headers={"Origin": APP, "Cookie": f"sid={browser.session_id}"})
    assert no_token.status == 403 and (await no_token.json())["code"] == "csrf_failed"


@pytest.mark.parametrize("origins", ["*", "null", "app.example.com"])
def test_a_wildcard_or_bare_cors_origin_is_refused_at_startup(make_settings, origins):
    with pytest.raises(CorsConfigError):
        SecurityHeaders(make_settings(http={"cors_origins": origins}))
