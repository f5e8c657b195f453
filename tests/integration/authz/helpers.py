"""Helpers for the authorization integration tests."""
from __future__ import annotations

from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.support.browser import STRONG_PASSWORD, Browser, new_email


async def user(client, *roles: str) -> tuple[Browser, str]:
    """A logged-in browser for a new user holding ``roles``; returns (browser, user id)."""
    email = new_email()
    registered = await client.server.app[SERVICES].accounts.register(email, STRONG_PASSWORD, ClientInfo(),
                                                                      roles=roles)
    browser = Browser(client)
    assert (await browser.login(email)).status == 200
    return browser, registered.id
