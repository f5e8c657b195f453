"""A trusted-device cookie made of bytes that are not UTF-8 reaches the app as lone
surrogates (aiohttp decodes headers with 'surrogateescape'). It is no device token:
no login step answers 500 for it (invariant 5), least of all the second one, after the
code and the mfa_token are spent."""
from tests.integration.mfa.helpers import code_at, enrol, mfa_settings, password_step
from tests.integration.sessions.test_non_utf8_headers import _raw
from tests.support.browser import STRONG_PASSWORD, Browser

BAD_DEVICE = b"sid-device=abc\xff\xfe"


async def test_a_non_utf8_device_cookie_on_a_password_login_is_no_device(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    email = await Browser(client, "sid").signed_up()
    status, _, body = await _raw(client, "POST", "/auth/login", {"Cookie": BAD_DEVICE},
                                 {"email": email, "password": STRONG_PASSWORD})
    assert status == 200 and b"csrf_token" in body, body[:300]


async def test_a_non_utf8_device_cookie_on_the_second_step_is_no_device(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    owner = Browser(client, "sid")
    email = await owner.signed_up()
    secret, codes = await enrol(owner)
    token = await password_step(client, email, STRONG_PASSWORD)
    status, _, body = await _raw(client, "POST", "/auth/login", {"Cookie": BAD_DEVICE},
                                 {"email": email, "password": STRONG_PASSWORD})
    assert status == 200 and b"mfa_token" in body, body[:300]
    status, _, body = await _raw(client, "POST", "/auth/login/mfa", {"Cookie": BAD_DEVICE},
                                 {"mfa_token": token, "code": code_at(secret, +1)})
    assert status == 200, body[:300]
    grant = (await (await client.post("/auth/token", json={
        "grant_type": "password", "username": email, "password": STRONG_PASSWORD})).json())["mfa_token"]
    status, _, body = await _raw(client, "POST", "/auth/token", {"Cookie": BAD_DEVICE},
                                 {"grant_type": "urn:authsvc:grant-type:mfa", "mfa_token": grant, "code": codes[0]})
    assert status == 200 and b"access_token" in body, body[:300]
