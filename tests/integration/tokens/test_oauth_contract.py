"""RFC 6749 / 6750 / 7662 details of the OAuth-shaped endpoints."""
from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.integration.tokens.helpers import basic, new_user, token_settings
from tests.support.browser import STRONG_PASSWORD

INSECURE_OK = {"http": {"allow_insecure_basic": True}}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_a_repeated_token_request_parameter_is_invalid_request(serve, make_settings):
    """RFC 6749 §3.2: parameters MUST NOT be included more than once; §5.2: invalid_request
    covers a request that 'repeats a parameter'. Picking the last one silently lets a front
    end (WAF, proxy, logger) and this service read different requests."""
    client = await serve(token_settings(make_settings))
    email, _ = await new_user(client)
    body = f"grant_type=password&username={email}&password=wrong&password={STRONG_PASSWORD}"
    r = await client.post("/auth/token", data=body.encode(), headers=FORM)
    assert r.status == 400, (r.status, (await r.text())[:120])
    assert (await r.json(content_type=None))["error"] == "invalid_request"


async def test_an_anonymous_request_to_a_protected_route_gets_a_challenge(serve, make_settings):
    """API.md: '401 responses carry WWW-Authenticate'; RFC 6750 §3 (and RFC 7235 §3.1): a
    request without credentials to a protected resource MUST get a WWW-Authenticate header."""
    client = await serve(token_settings(make_settings))
    for path in ("/auth/me", "/auth/sessions"):
        r = await client.get(path)
        assert r.status == 401
        assert "WWW-Authenticate" in r.headers, f"GET {path}: 401 without WWW-Authenticate"


async def test_introspection_with_bad_client_credentials_is_an_oauth_error(serve, make_settings):
    """RFC 7662 §2.3: invalid client credentials get 401 'as described in Section 5.2 of
    OAuth 2.0', i.e. a JSON body with error=invalid_client that OAuth libraries read."""
    client = await serve(token_settings(make_settings, **INSECURE_OK))
    created = await client.server.app[SERVICES].clients.create("rs", (), ClientInfo())
    r = await client.post("/auth/introspect", data=b"token=x", headers={**FORM, **basic(created.client_id, "w" * 43)})
    assert r.status == 401
    reply = await r.json(content_type=None)
    assert reply.get("error") == "invalid_client", reply


async def test_introspecting_an_oversized_token_is_inactive_not_an_error(serve, make_settings):
    """RFC 7662 §2.3: 'a properly formed and authorized query for an inactive or otherwise
    invalid token ... MUST instead respond with ... active false'."""
    client = await serve(token_settings(make_settings, **INSECURE_OK))
    created = await client.server.app[SERVICES].clients.create("rs", (), ClientInfo())
    r = await client.post("/auth/introspect", json={"token": "a" * 9000},
                          headers=basic(created.client_id, created.secret))
    assert r.status == 200 and await r.json(content_type=None) == {"active": False}, (r.status, await r.text())
