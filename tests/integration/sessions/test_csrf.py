"""CSRF: cookie-authenticated unsafe requests need the synchronizer token; login and
register refuse a foreign Origin."""
import pytest

from tests.support.browser import STRONG_PASSWORD, Browser, new_email

UNSAFE_ROUTES = [("POST", "/auth/logout", None), ("DELETE", "/auth/sessions", None),
                 ("POST", "/auth/password", {"current_password": STRONG_PASSWORD,
                                             "new_password": "another long passphrase 99"})]


async def _csrf_failed(response) -> None:
    assert response.status == 403
    assert response.content_type == "application/problem+json"
    assert (await response.json())["code"] == "csrf_failed"


@pytest.mark.parametrize("method,path,body", UNSAFE_ROUTES)
async def test_missing_or_wrong_token_is_403_and_changes_nothing(client, method, path, body):
    browser = Browser(client)
    await browser.signed_up()
    token = browser.csrf
    browser.csrf = None
    await _csrf_failed(await browser.request(method, path, json=body))
    await _csrf_failed(await browser.request(method, path, json=body, headers={"X-CSRF-Token": "x" * 43}))
    # Another session's valid token is still wrong for this one.
    other = Browser(client)
    await other.signed_up()
    await _csrf_failed(await browser.request(method, path, json=body, headers={"X-CSRF-Token": other.csrf}))
    browser.csrf = token
    assert (await browser.request("GET", "/auth/session")).status == 200
    # With the right token the same request passes the CSRF check.
    ok = await browser.request(method, path, json=body)
    assert ok.status in (200, 204)


async def test_foreign_origin_with_valid_token_is_refused(client):
    browser = Browser(client)
    await browser.signed_up()
    await _csrf_failed(await browser.request("POST", "/auth/logout", headers={"Origin": "https://evil.example"}))
    assert (await browser.request("GET", "/auth/session")).status == 200


async def test_foreign_origin_on_login_and_register_is_refused(client):
    email = new_email()
    evil = {"Origin": "https://evil.example"}
    await _csrf_failed(await client.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD},
                                         headers=evil))
    assert (await client.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD})).status == 201
    reply = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD}, headers=evil)
    await _csrf_failed(reply)
    assert not reply.headers.getall("Set-Cookie", [])
    own = f"http://{client.host}:{client.port}"
    assert (await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD},
                              headers={"Origin": own})).status == 200


async def test_allowed_origins_setting_admits_a_listed_origin(serve, make_settings):
    client = await serve(make_settings(http={"allowed_origins": "https://app.example"}))
    email = new_email()
    reply = await client.post("/auth/register", json={"email": email, "password": STRONG_PASSWORD},
                              headers={"Origin": "https://app.example"})
    assert reply.status == 201
