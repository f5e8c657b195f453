"""Session fixation: whatever cookie a browser brings to login, it leaves with a new one."""
from app.sessions.ids import new_session_id
from tests.integration.sessions.helpers import cookie_attributes, set_cookie_headers
from tests.support.browser import Browser


async def test_planted_random_cookie_is_never_adopted(client):
    browser = Browser(client)
    email = await browser.signed_up()
    planted = new_session_id()
    victim = Browser(client)
    victim.session_id = planted
    reply = await victim.login(email)
    assert reply.status == 200
    [header] = set_cookie_headers(reply)
    assert cookie_attributes(header)[0] != planted
    attacker = Browser(client)
    attacker.session_id = planted
    assert (await attacker.request("GET", "/auth/session")).status == 401


async def test_login_over_a_live_session_rotates_and_ends_it(client):
    other = Browser(client)
    await other.signed_up()
    foreign_cookie = other.session_id
    user = Browser(client)
    email = await user.signed_up()
    # The browser arrives with someone else's valid session (planted), then logs in.
    user.session_id = foreign_cookie
    reply = await user.login(email)
    assert reply.status == 200
    assert user.session_id not in (None, foreign_cookie)
    me = await user.request("GET", "/auth/session")
    assert (await me.json())["user"]["email"] == email
    # The planted session was ended: the attacker holding it has nothing.
    other_again = Browser(client)
    other_again.session_id = foreign_cookie
    assert (await other_again.request("GET", "/auth/session")).status == 401


async def test_relogin_ends_the_previous_session_of_the_same_user(client):
    browser = Browser(client)
    email = await browser.signed_up()
    first = browser.session_id
    assert (await browser.login(email)).status == 200
    assert browser.session_id != first
    stale = Browser(client)
    stale.session_id = first
    assert (await stale.request("GET", "/auth/session")).status == 401
