"""create-client prints the secret once; keys rotate adds a key the running web process uses."""
import asyncio
import json
import re

import jwt

from app.http.appkeys import SERVICES
from tests.integration.sessions.test_cli import _cli
from tests.integration.tokens.helpers import basic, token_settings, tokens_for


async def test_create_client_prints_the_secret_once_and_it_works(serve, make_settings, database_url):
    settings = token_settings(make_settings, http={"allow_insecure_basic": True})
    client = await serve(settings)
    code, out, err = await _cli(settings, "create-client", "billing api", "--role", "introspector")
    assert code == 0, err
    client_id = re.search(r"client_id: (\S+)", out).group(1)
    secret = re.search(r"secret: +(\S+)", out).group(1)
    assert len(secret) >= 43
    r = await client.post("/auth/introspect", json={"token": "x"}, headers=basic(client_id, secret))
    assert r.status == 200 and await r.json() == {"active": False}
    from tests.integration.sessions.helpers import pg_fetch

    stored = await pg_fetch(database_url, "SELECT * FROM api_clients WHERE client_id = $1", client_id)
    assert secret not in str(dict(stored[0]))


async def test_keys_rotate_cli_switches_a_running_process(serve, make_settings):
    settings = token_settings(make_settings)
    client = await serve(settings)
    await client.server.app[SERVICES].bus.connected.wait()
    before, _ = await tokens_for(client)
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    code, out, err = await _cli(settings, "keys", "rotate")
    assert code == 0, err
    new_kid = re.search(r"new signing key (\S+)", out).group(1)
    await asyncio.sleep(0.1)
    after, _ = await tokens_for(client)
    assert jwt.get_unverified_header(after["access_token"])["kid"] == new_kid != old_kid
    kids = {k["kid"] for k in (await (await client.get("/.well-known/jwks.json")).json())["keys"]}
    assert {old_kid, new_kid} <= kids


async def test_keys_rotate_emits_one_event_naming_the_keys(serve, make_settings, redis):
    """A signing-key change is a state change (invariant 4), and the audit trail must show it."""
    settings = token_settings(make_settings)
    client = await serve(settings)
    old_kid = (await client.server.app[SERVICES].tokens.keyring.current()).kid
    code, out, err = await _cli(settings, "keys", "rotate")
    assert code == 0, err
    new_kid = re.search(r"new signing key (\S+)", out).group(1)
    events = [json.loads(f["event"]) for _, f in await redis.xrange(settings.events.stream)]
    rotated = [e for e in events if e["type"] == "auth.key.rotated" and e["data"]["reason"] == "rotated"]
    assert len(rotated) == 1, [e["type"] for e in events]
    data = rotated[0]["data"]
    assert data["kid"] == new_kid and data["superseded"] == [old_kid] and data["user_agent"] == "cli"
    assert "private" not in json.dumps(data).lower()
