"""The password grant's domain rule: same checks and throttle as login, and never for an MFA user."""
import pytest

from app.errors import InvalidCredentialsError, TooManyAttemptsError
from app.http.appkeys import SERVICES
from app.mfa.errors import MfaRequiredForGrantError
from app.sessions.manager import ClientInfo
from tests.integration.mfa.helpers import enrol, mfa_settings
from tests.support.browser import STRONG_PASSWORD, Browser

CLIENT = ClientInfo(ip="198.51.100.9")


async def test_an_mfa_user_cannot_use_the_password_grant(serve, make_settings):
    client = await serve(mfa_settings(make_settings))
    accounts = client.server.app[SERVICES].accounts
    browser = Browser(client, "sid")
    email = await browser.signed_up()
    assert (await accounts.password_grant(email, STRONG_PASSWORD, CLIENT)).email == email
    await enrol(browser)
    with pytest.raises(MfaRequiredForGrantError) as caught:
        await accounts.password_grant(email, STRONG_PASSWORD, CLIENT)
    assert caught.value.status == 400 and caught.value.extra["error"] == "invalid_grant"
    assert "mfa_required" in caught.value.extra["error_description"]
    # A wrong password still says only invalid_credentials (nothing about MFA).
    with pytest.raises(InvalidCredentialsError):
        await accounts.password_grant(email, "not the password at all", CLIENT)


async def test_the_password_grant_shares_the_login_throttle(serve, make_settings):
    client = await serve(mfa_settings(make_settings, throttle={"account_free_failures": 2, "base_delay_s": 60}))
    accounts = client.server.app[SERVICES].accounts
    email = await Browser(client, "sid").signed_up()
    for _ in range(2):
        with pytest.raises(InvalidCredentialsError):
            await accounts.password_grant(email, "wrong guess 123456", CLIENT)
    with pytest.raises(TooManyAttemptsError):
        await accounts.password_grant(email, STRONG_PASSWORD, CLIENT)
    reply = await client.post("/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert reply.status == 429
