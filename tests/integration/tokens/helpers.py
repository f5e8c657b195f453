"""Token test helpers: cheap argon2, plain-http cookie names, users made directly."""
from __future__ import annotations

import base64

from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.support.browser import STRONG_PASSWORD, new_email

FAST = {"password": {"time_cost": 1, "memory_kib": 1024},
        "cookie": {"name": "sid", "secure": False},
        "tokens": {"access_cookie": "at", "refresh_cookie": "rt", "cookie_secure": False}}


def token_settings(make_settings, **overrides):
    merged = {k: dict(v) for k, v in FAST.items()}
    for section, values in overrides.items():
        merged.setdefault(section, {}).update(values)
    return make_settings(**merged)


async def new_user(client, roles: tuple[str, ...] = ()) -> tuple[str, str]:
    """(email, user id), registered straight through the service graph."""
    email = new_email()
    registered = await client.server.app[SERVICES].accounts.register(email, STRONG_PASSWORD, ClientInfo(),
                                                                    roles=roles)
    return email, registered.id


async def grant(client, email: str, password: str = STRONG_PASSWORD, **kw):
    return await client.post("/auth/token", json={"grant_type": "password", "username": email,
                                                  "password": password}, **kw)


async def tokens_for(client, roles: tuple[str, ...] = ()) -> tuple[dict, str]:
    """(token reply, user id) of a fresh user's password grant."""
    email, user_id = await new_user(client, roles)
    response = await grant(client, email)
    assert response.status == 200, await response.text()
    return await response.json(), user_id


async def refresh(client, refresh_token: str):
    return await client.post("/auth/token", json={"grant_type": "refresh_token", "refresh_token": refresh_token})


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}
