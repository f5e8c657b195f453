"""Invariant 2: a dump of Redis (and the event stream) yields no usable cookie."""
from tests.integration.sessions.helpers import dump_prefix, raw_events
from tests.support.browser import STRONG_PASSWORD, Browser


async def test_no_session_id_csrf_token_or_password_in_redis(client, redis, prefix, settings):
    browsers = [Browser(client) for _ in range(3)]
    email = await browsers[0].signed_up()
    for b in browsers[1:]:
        assert (await b.login(email)).status == 200
    # Exercise every write path: touch, list, end one, end others, a failed login.
    await browsers[0].request("GET", "/auth/session")
    await browsers[0].request("GET", "/auth/sessions")
    await client.post("/auth/login", json={"email": email, "password": "not the password at all"})
    secrets = [b.session_id for b in browsers] + [b.csrf for b in browsers] + [STRONG_PASSWORD]
    handle = (await (await browsers[2].request("GET", "/auth/session")).json())["session"]["handle"]
    assert (await browsers[0].request("DELETE", f"/auth/sessions/{handle}")).status == 204
    dump = await dump_prefix(redis, prefix)
    assert f"{prefix}:s:" in dump and settings.events.stream in dump  # the dump saw the state
    for secret in secrets:
        assert secret and secret not in dump
    # Each id's raw bytes do not appear either (e.g. stored decoded).
    import base64
    for b in browsers:
        assert base64.urlsafe_b64decode(b.session_id + "=").decode("latin-1") not in dump


async def test_events_carry_no_secrets(client, redis, settings):
    browser = Browser(client)
    email = await browser.signed_up()
    await browser.request("POST", "/auth/password", json={"current_password": STRONG_PASSWORD,
                                                          "new_password": "a brand new passphrase 77"})
    browser.csrf = (await (await browser.request("GET", "/auth/session")).json())["csrf_token"]
    cookie, csrf = browser.session_id, browser.csrf
    assert (await browser.request("POST", "/auth/logout")).status == 204
    await client.post("/auth/login", json={"email": email, "password": "wrong wrong wrong wrong"})
    raw = await raw_events(redis, settings.events.stream)
    assert "auth.password.changed" in raw and "auth.logout" in raw
    for secret in (cookie, csrf, STRONG_PASSWORD, "a brand new passphrase 77", "wrong wrong wrong wrong",
                   "$argon2id"):
        assert secret not in raw
