"""Browser transport: tokens in HttpOnly cookies, CSRF for cookie-borne access tokens."""
from tests.integration.sessions.helpers import cookie_attributes
from tests.integration.tokens.helpers import grant, new_user, token_settings
from tests.support.browser import STRONG_PASSWORD, Browser
from tests.support.nojar import serve_without_cookie_jar

serve = serve_without_cookie_jar  # each request carries only the cookies the test chose

COOKIES = {"tokens": {"cookie_transport": True}}


def _cookies(response) -> dict[str, tuple[str, dict]]:
    out = {}
    for header in response.headers.getall("Set-Cookie", []):
        name = header.split("=", 1)[0]
        out[name] = cookie_attributes(header)
    return out


async def _login(client):
    email, _ = await new_user(client)
    response = await grant(client, email)
    assert response.status == 200
    return response, await response.json()


async def test_tokens_travel_in_httponly_cookies_not_the_body(serve, make_settings):
    client = await serve(token_settings(make_settings, **COOKIES))
    response, body = await _login(client)
    assert "access_token" not in body and "refresh_token" not in body
    assert body["token_type"] == "Bearer" and body["csrf_token"]
    cookies = _cookies(response)
    access_value, access = cookies["at"]
    refresh_value, refresh = cookies["rt"]
    assert access_value.count(".") == 2 and len(refresh_value) == 43
    assert "httponly" in access and access["path"] == "/" and access["samesite"] == "Lax"
    assert "httponly" in refresh and refresh["path"] == "/auth" and refresh["samesite"] == "Strict"


async def test_secure_flag_is_on_by_default(serve, make_settings):
    settings = token_settings(make_settings, **COOKIES)
    settings.tokens.cookie_secure = True
    client = await serve(settings)
    response, _ = await _login(client)
    for _, attributes in _cookies(response).values():
        assert "secure" in attributes


async def test_cookie_borne_access_token_needs_the_csrf_token_on_unsafe_requests(serve, make_settings):
    client = await serve(token_settings(make_settings, **COOKIES))
    response, body = await _login(client)
    access = _cookies(response)["at"][0]
    jar = {"Cookie": f"at={access}"}
    assert (await client.get("/auth/sessions", headers=jar)).status == 200  # safe: no token needed
    refused = await client.delete("/auth/sessions", headers=jar)
    assert refused.status == 403 and (await refused.json())["code"] == "csrf_failed"
    wrong = await client.delete("/auth/sessions", headers={**jar, "X-CSRF-Token": "x" * 43})
    assert wrong.status == 403
    ok = await client.delete("/auth/sessions", headers={**jar, "X-CSRF-Token": body["csrf_token"]})
    assert ok.status == 204


async def test_refresh_from_the_cookie_rotates_both_cookies(serve, make_settings):
    client = await serve(token_settings(make_settings, **COOKIES))
    response, _ = await _login(client)
    cookies = _cookies(response)
    r = await client.post("/auth/token", json={"grant_type": "refresh_token"},
                          headers={"Cookie": f"rt={cookies['rt'][0]}"})
    assert r.status == 200
    rotated = _cookies(r)
    assert rotated["rt"][0] != cookies["rt"][0] and rotated["at"][0] != cookies["at"][0]
    assert (await r.json())["csrf_token"]


async def test_logout_ends_the_cookie_login_and_clears_the_cookies(serve, make_settings):
    client = await serve(token_settings(make_settings, **COOKIES))
    response, body = await _login(client)
    cookies = _cookies(response)
    jar = {"Cookie": f"at={cookies['at'][0]}; rt={cookies['rt'][0]}", "X-CSRF-Token": body["csrf_token"]}
    r = await client.post("/auth/logout", headers=jar)
    assert r.status == 204
    cleared = _cookies(r)
    assert cleared["at"][1]["max-age"] == "0" and cleared["rt"][1]["max-age"] == "0"
    assert (await client.get("/auth/sessions", headers={"Cookie": f"at={cookies['at'][0]}"})).status == 401
    again = await client.post("/auth/token", json={"grant_type": "refresh_token"},
                              headers={"Cookie": f"rt={cookies['rt'][0]}"})
    assert again.status == 400


async def test_revoke_without_a_body_token_revokes_the_cookie_tokens(serve, make_settings):
    client = await serve(token_settings(make_settings, **COOKIES))
    response, body = await _login(client)
    cookies = _cookies(response)
    jar = {"Cookie": f"at={cookies['at'][0]}; rt={cookies['rt'][0]}", "X-CSRF-Token": body["csrf_token"]}
    r = await client.post("/auth/revoke", json={}, headers=jar)
    assert r.status == 200 and _cookies(r)["rt"][1]["max-age"] == "0"
    assert (await client.get("/auth/sessions", headers={"Cookie": f"at={cookies['at'][0]}"})).status == 401


# Cookie tossing: the refresh cookie needs Path=/auth, so it is __Secure-, not __Host-, and a
# sibling subdomain can plant one of the same name with Domain=<parent> and a longer path.
# The browser then sends both, the planted one first.

async def _refresh_with(client, cookie_header: str):
    return await client.post("/auth/token", json={"grant_type": "refresh_token"}, headers={"Cookie": cookie_header})


async def test_a_request_with_two_refresh_cookies_is_refused_and_neither_is_spent(serve, make_settings):
    client = await serve(token_settings(make_settings, **COOKIES))
    victim = _cookies((await _login(client))[0])["rt"][0]
    planted = _cookies((await _login(client))[0])["rt"][0]  # the attacker's own login
    refused = await _refresh_with(client, f"rt={planted}; rt={victim}")
    assert refused.status == 400
    body = await refused.json()
    assert body["error"] == "invalid_request" and "more than one" in body["error_description"]
    assert "Set-Cookie" not in refused.headers
    # Nothing was rotated: each token still refreshes its own login (the planted one was not
    # taken for the victim's, which would sign the victim into the attacker's account).
    assert (await _refresh_with(client, f"rt={victim}")).status == 200
    assert (await _refresh_with(client, f"rt={planted}")).status == 200


async def test_revoke_without_a_body_token_revokes_every_presented_refresh_cookie(serve, make_settings):
    client = await serve(token_settings(make_settings, **COOKIES))
    own = _cookies((await _login(client))[0])["rt"][0]
    planted = _cookies((await _login(client))[0])["rt"][0]
    r = await client.post("/auth/revoke", json={}, headers={"Cookie": f"rt={planted}; rt={own}"})
    assert r.status == 200
    assert (await _refresh_with(client, f"rt={own}")).status == 400


async def test_logout_with_the_access_cookie_also_ends_the_session_cookie_beside_it(serve, make_settings):
    """API.md: POST /auth/logout ends the session and clears the cookie. A browser holding a
    cookie session and token cookies is authenticated by the access cookie; the logout must
    still end the session the browser presents, not leave it signed in."""
    client = await serve(make_settings(
        password={"time_cost": 1, "memory_kib": 1024}, cookie={"name": "sid", "secure": False},
        tokens={"cookie_transport": True, "access_cookie": "at", "refresh_cookie": "rt", "cookie_secure": False}))
    browser = Browser(client, "sid")
    email = await browser.signed_up()
    granted = await client.post("/auth/token", json={"grant_type": "password", "username": email,
                                                     "password": STRONG_PASSWORD})
    assert granted.status == 200
    both = f"sid={browser.session_id}; at={granted.cookies['at'].value}"
    out = await client.post("/auth/logout", headers={"Cookie": both,
                                                     "X-CSRF-Token": (await granted.json())["csrf_token"]})
    assert out.status == 204
    assert [h for h in out.headers.getall("Set-Cookie", []) if h.startswith("sid=")], "session cookie not cleared"
    assert (await client.get("/auth/session", headers={"Cookie": f"sid={browser.session_id}"})).status == 401
