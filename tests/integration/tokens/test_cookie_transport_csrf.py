"""Browser transport (tokens in cookies): an Origin check where the cookies alone
authenticate, and what a password change leaves behind."""
from tests.integration.tokens.helpers import grant, new_user, token_settings
from tests.integration.tokens.test_cookie_transport import _cookies
from tests.support.browser import STRONG_PASSWORD
from tests.support.nojar import serve_without_cookie_jar

COOKIES = {"tokens": {"cookie_transport": True}}
FOREIGN = "https://evil.example"

# Each request sends exactly the cookies the test names: a jar would add the access cookie,
# which is not what an expired-access browser sends.
serve = serve_without_cookie_jar


async def _login(client):
    email, user_id = await new_user(client)
    response = await grant(client, email)
    assert response.status == 200
    cookies = _cookies(response)
    return cookies["at"][0], cookies["rt"][0], (await response.json())["csrf_token"], user_id


async def _refresh_from_cookie(client, rt: str):
    return await client.post("/auth/token", json={"grant_type": "refresh_token"}, headers={"Cookie": f"rt={rt}"})


async def test_revoke_by_refresh_cookie_from_a_foreign_origin_is_refused(serve, make_settings):
    """Once the access cookie has expired (15 min; the browser drops it), the refresh cookie is
    the only credential. A cross-origin page must not be able to end the user's login with it:
    POST /auth/revoke without a body token acts on the cookies, so it is cookie-authenticated
    and needs the CSRF defence (X-CSRF-Token, or at least a matching Origin)."""
    client = await serve(token_settings(make_settings, **COOKIES))
    _, rt, _, _ = await _login(client)
    r = await client.post("/auth/revoke", data=b"", headers={
        "Cookie": f"rt={rt}", "Origin": FOREIGN, "Content-Type": "application/x-www-form-urlencoded"})
    alive = await _refresh_from_cookie(client, rt)
    assert r.status == 403 and alive.status == 200, (
        f"/auth/revoke from Origin {FOREIGN} answered {r.status}; the refresh cookie then got {alive.status}")


async def test_a_password_change_by_a_token_cookie_caller_clears_its_dead_cookies(serve, make_settings):
    """POST /auth/password revokes every token of the user, the caller's own included. The
    reply must clear the caller's token cookies and mint no session it never had: a dead
    access cookie left behind would take precedence over any later login (401 forever)."""
    client = await serve(token_settings(make_settings, **COOKIES))
    at, rt, csrf, user_id = await _login(client)
    r = await client.post("/auth/password", json={"current_password": STRONG_PASSWORD,
                                                  "new_password": "another strong passphrase 99"},
                          headers={"Cookie": f"at={at}; rt={rt}", "X-CSRF-Token": csrf})
    assert r.status == 204
    jar = {"at": at, "rt": rt}
    for header in r.headers.getall("Set-Cookie", []):  # what a browser would now hold
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        if "Max-Age=0" in header:
            jar.pop(name, None)
        else:
            jar[name] = value
    assert jar == {}, f"after the change the browser still holds {sorted(jar)}"
    assert (await _refresh_from_cookie(client, rt)).status == 400
