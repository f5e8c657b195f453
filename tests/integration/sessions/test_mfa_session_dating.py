"""A session opened on credentials read a while ago (the second MFA step, minutes after the
password step) starts its clocks when it is opened, but stays issued as of that read, so a
revocation epoch taken after the read still covers it."""
import asyncio
import time

import pytest

from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo, RevokedMeanwhileError
from tests.integration.mfa.helpers import enrol, mfa_settings, password_step, unused_step_code
from tests.support.browser import STRONG_PASSWORD, Browser
from tests.support.nojar import serve_without_cookie_jar


serve = serve_without_cookie_jar  # each request carries only the cookies the test chose


async def test_a_second_step_taken_after_the_idle_timeout_opens_a_live_session(serve, make_settings):
    # Idle 2 s stands for a short idle timeout (OWASP: 2-5 min for high-value apps) and a user
    # who needs longer than that to find the phone, well within the 5-minute mfa_token.
    client = await serve(mfa_settings(make_settings, session={"idle_timeout_s": 2, "absolute_timeout_s": 600,
                                                              "cache_ttl_s": 0}))
    owner = Browser(client, cookie_name="sid")
    email = await owner.signed_up()
    secret, _ = await enrol(owner)
    token = await password_step(client, email, STRONG_PASSWORD)
    await asyncio.sleep(2.5)
    browser = Browser(client, cookie_name="sid")
    reply = await browser.request("POST", "/auth/login/mfa", json={"mfa_token": token,
                                                                   "code": unused_step_code(secret)})
    assert reply.status == 200, await reply.text()
    assert browser.session_id
    body = await reply.json()
    check = await browser.request("GET", "/auth/session")
    assert check.status == 200, (
        f"login answered 200 with a cookie, but the session is already dead ({await check.text()}); "
        f"reply said idle_expires_at={body['session']['idle_expires_at']}")


async def test_a_session_on_old_credentials_has_fresh_deadlines_and_the_credentials_issue_time(
        serve, make_settings):
    client = await serve(mfa_settings(make_settings, session={"idle_timeout_s": 60, "absolute_timeout_s": 120}))
    sessions = client.server.app[SERVICES].sessions
    read_at = time.time() - 90
    started = await sessions.start(user_id="00000000-0000-4000-8000-00000000d001", email="a@example.com",
                                   roles=(), client=ClientInfo(), credentials_at=read_at)
    record = started.record
    assert record.created_at == read_at and record.auth_time == read_at
    assert record.last_seen_at >= read_at + 89
    assert record.idle_expires_at >= record.last_seen_at + 59
    assert record.absolute_expires_at >= record.last_seen_at + 119
    assert (await sessions.resolve(started.session_id)).sid_hash == record.sid_hash


async def test_an_epoch_taken_after_the_credentials_read_ends_the_session_even_if_set_after_it(
        serve, make_settings):
    """The race the issue time covers: a forced logout takes its epoch after the login read the
    credentials, but the epoch lands after the session was written."""
    client = await serve(mfa_settings(make_settings, session={"cache_ttl_s": 0}))
    sessions = client.server.app[SERVICES].sessions
    uid = "00000000-0000-4000-8000-00000000d002"
    read_at = time.time() - 5
    started = await sessions.start(user_id=uid, email="a@example.com", roles=(), client=ClientInfo(),
                                   credentials_at=read_at)
    await sessions.revoke_everything_before(uid, read_at + 1)
    with pytest.raises(Exception) as refused:
        await sessions.resolve(started.session_id)
    assert getattr(refused.value, "code", None) == "unauthenticated"
    # And an epoch already there refuses the session outright (nothing written).
    with pytest.raises(RevokedMeanwhileError):
        await sessions.start(user_id=uid, email="a@example.com", roles=(), client=ClientInfo(),
                             credentials_at=read_at + 0.5)
