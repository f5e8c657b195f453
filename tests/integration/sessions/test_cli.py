"""The CLI creates the first admin and grants roles, in the same database and Redis the
web process uses; logins show the roles."""
import asyncio
import os
import sys
from pathlib import Path

from tests.conftest import REDIS_URL
from tests.integration.sessions.helpers import pg_fetch
from tests.support.browser import STRONG_PASSWORD, Browser, new_email

ROOT = Path(__file__).resolve().parents[3]


async def _cli(settings, *args: str, stdin: str = "") -> tuple[int, str, str]:
    env = {**os.environ, "AUTH_DATABASE__URL": settings.database.url, "AUTH_REDIS__URL": REDIS_URL,
           "AUTH_REDIS__KEY_PREFIX": settings.redis.key_prefix, "AUTH_EVENTS__STREAM": settings.events.stream}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", *args, cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_create_user_with_admin_role(client, settings, redis):
    email = new_email()
    code, out, err = await _cli(settings, "create-user", email, "--role", "admin", "--password-stdin",
                                stdin=STRONG_PASSWORD + "\n")
    assert code == 0, err
    user_id = out.strip()
    browser = Browser(client)
    reply = await browser.login(email)
    assert reply.status == 200
    body = await reply.json()
    assert body["user"]["roles"] == ["admin"] and body["user"]["id"] == user_id
    stream = await redis.xrange(settings.events.stream)
    assert any('"auth.user.registered"' in f["event"] and user_id in f["event"] for _, f in stream)
    # A second create-user for the same email fails loudly (unlike the public route).
    code, _, err = await _cli(settings, "create-user", email, "--password-stdin", stdin=STRONG_PASSWORD + "\n")
    assert code != 0 and "exists" in err


async def test_create_user_refuses_a_weak_password(client, settings):
    code, _, err = await _cli(settings, "create-user", new_email(), "--password-stdin", stdin="short\n")
    assert code != 0 and "weak_password" in err and "Traceback" not in err


async def test_grant_role_reaches_live_sessions(client, settings):
    browser = Browser(client)
    email = await browser.signed_up()
    code, _, err = await _cli(settings, "grant-role", email, "auditor")
    assert code == 0, err
    me = await (await browser.request("GET", "/auth/session")).json()
    assert me["user"]["roles"] == ["auditor"]
    assert (await (await Browser(client).login(email)).json())["user"]["roles"] == ["auditor"]
    code, _, err = await _cli(settings, "grant-role", new_email(), "auditor")
    assert code != 0 and "no user" in err


async def test_role_names_the_admin_api_refuses_are_refused_by_the_cli_too(client, settings, database_url):
    """Sessions keep roles comma-joined: a role named "viewer,admin" would come back as admin."""
    email = new_email()
    assert (await Browser(client).register(email)).status == 201
    for role in ("viewer,admin", "r" * 65, "ops team/../x", "admin\n"):
        code, _, err = await _cli(settings, "grant-role", email, role)
        assert code != 0 and "invalid_request" in err and "Traceback" not in err, (role, err[-500:])
    code, _, err = await _cli(settings, "create-user", new_email(), "--role", "viewer,admin", "--password-stdin",
                              stdin=STRONG_PASSWORD + "\n")
    assert code != 0 and "invalid_request" in err, err[-500:]
    browser = Browser(client)
    body = await (await browser.login(email)).json()
    assert body["user"]["roles"] == []
    rows = await pg_fetch(database_url, "SELECT count(*) AS n FROM roles WHERE name = ANY($1::text[])",
                          ["viewer,admin", "r" * 65, "ops team/../x", "admin\n"])
    assert rows[0]["n"] == 0
