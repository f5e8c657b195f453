"""Enrolling a user in TOTP the way a client would."""
from __future__ import annotations

import time

import pyotp

from app.mfa.secretbox import new_data_key
from tests.support.browser import Browser


def mfa_settings(make_settings, **overrides):
    sections = {"password": {"time_cost": 1, "memory_kib": 1024},
                "security": {"data_key": new_data_key()},
                "cookie": {"name": "sid", "secure": False}}
    for section, values in overrides.items():
        sections.setdefault(section, {}).update(values)
    return make_settings(**sections)


def code_at(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


async def enrol(browser: Browser) -> tuple[str, list[str]]:
    """(secret, recovery codes) for the browser's signed-in user."""
    setup = await browser.request("POST", "/auth/mfa/totp/setup")
    assert setup.status == 201, await setup.text()
    secret = (await setup.json())["secret"]
    confirm = await browser.request("POST", "/auth/mfa/totp/confirm", json={"code": code_at(secret)})
    assert confirm.status == 200, await confirm.text()
    body = await confirm.json()
    browser.csrf = body["csrf_token"]  # enrolment rotated the session id (the browser took the cookie)
    return secret, body["recovery_codes"]


async def password_step(client, email: str, password: str) -> str:
    reply = await client.post("/auth/login", json={"email": email, "password": password})
    body = await reply.json()
    assert reply.status == 200 and body["mfa_required"] is True, body
    assert not [h for h in reply.headers.getall("Set-Cookie", []) if h.startswith("sid=")]
    return body["mfa_token"]


def unused_step_code(secret: str) -> str:
    """A code for the next step: valid (+-1 window) and not yet used by enrol()."""
    return code_at(secret, +1)




async def redis_text(redis, prefix: str) -> str:
    """Every value under ``prefix`` read natively (some values are binary, so bytes in, text out)."""
    import redis.asyncio as aioredis

    from tests.conftest import REDIS_URL

    raw = aioredis.Redis.from_url(REDIS_URL)
    parts = []
    try:
        async for key in raw.scan_iter(f"{prefix}:*", count=20000):
            kind = (await raw.type(key)).decode()
            parts.append(key.decode())
            if kind == "hash":
                parts.append(str(await raw.hgetall(key)))
            elif kind == "string":
                parts.append(str(await raw.get(key)))
            elif kind == "stream":
                parts.append(str(await raw.xrange(key)))
            elif kind == "zset":
                parts.append(str(await raw.zrange(key, 0, -1)))
    finally:
        await raw.aclose()
    return "\n".join(parts)
