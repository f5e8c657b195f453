"""The whole cookie-session flow once, end to end, over a real socket."""
from tests.support.browser import Browser


async def test_register_login_session_logout(client, redis, settings):
    browser = Browser(client)
    await browser.signed_up()
    me = await browser.request("GET", "/auth/session")
    assert me.status == 200
    body = await me.json()
    assert body["csrf_token"] == browser.csrf
    old = browser.session_id
    out = await browser.request("POST", "/auth/logout")
    assert out.status == 204
    assert browser.session_id is None
    browser.session_id = old
    again = await browser.request("GET", "/auth/session")
    assert again.status == 401
    assert again.content_type == "application/problem+json"
    assert (await again.json())["code"] == "unauthenticated"
