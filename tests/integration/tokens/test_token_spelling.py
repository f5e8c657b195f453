"""One access token, one spelling: other spellings and undecodable bytes are 401
invalid_token, and a revocation drops every cached form of a token (invariant 1)."""
import asyncio
import base64

import pytest

from app.http.appkeys import SERVICES
from tests.integration.tokens.helpers import bearer, token_settings, tokens_for

# The order of the P-256 group: (r, n - s) is a second valid ECDSA signature for (r, s).
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


async def _raw_get(client, path: str, headers: dict[str, bytes]) -> tuple[int, dict[str, str], bytes]:
    """A GET on a raw socket, so header bytes reach the server as they are."""
    head = f"GET {path} HTTP/1.1\r\nHost: {client.host}:{client.port}\r\nConnection: close\r\n".encode()
    head += b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers.items())
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(head + b"\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    replied = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:])}
    return int(lines[0].split()[1]), replied, body


def _high_s(token: str) -> str:
    """The same ES256 token with its signature's s replaced by n - s."""
    signing_input, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    s = int.from_bytes(raw[32:], "big")
    other = raw[:32] + (P256_N - s).to_bytes(32, "big")
    return signing_input + "." + base64.urlsafe_b64encode(other).rstrip(b"=").decode()


async def _unauthorized(response) -> bool:
    return (response.status == 401 and (await response.json())["code"] == "invalid_token"
            and response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"'))


async def test_a_padded_spelling_of_a_token_is_refused(serve, make_settings):
    client = await serve(token_settings(make_settings))
    body, _ = await tokens_for(client)
    token = body["access_token"]
    assert (await client.get("/auth/me", headers=bearer(token))).status == 200
    assert await _unauthorized(await client.get("/auth/me", headers=bearer(token + "==")))


@pytest.mark.parametrize("path,want", [("/auth/me", 401), ("/auth/sessions", 401), ("/healthz", 200)])
async def test_a_bearer_token_with_bytes_that_are_not_utf8_is_no_credential(serve, make_settings, path, want):
    client = await serve(token_settings(make_settings))
    body, _ = await tokens_for(client)
    token = body["access_token"][:-1].encode() + b"\xff"
    status, headers, reply = await _raw_get(client, path, {"Authorization": b"Bearer " + token})
    assert status == want, (status, reply[:200])
    if want == 401:
        assert headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        assert b'"code": "invalid_token"' in reply


async def test_an_access_cookie_with_bytes_that_are_not_utf8_is_401(serve, make_settings):
    client = await serve(token_settings(make_settings, tokens={"cookie_transport": True}))
    status, headers, reply = await _raw_get(client, "/auth/me", {"Cookie": b"at=a.b.\xff"})
    assert status == 401, (status, reply[:200])
    assert b'"code": "invalid_token"' in reply


async def test_revoking_an_es256_token_drops_both_of_its_signatures_on_every_process(serve, make_settings):
    settings = token_settings(make_settings, tokens={"algorithm": "ES256"})
    a, b = await serve(settings), await serve(settings)
    for app_client in (a, b):
        await app_client.server.app[SERVICES].bus.connected.wait()
    body, _ = await tokens_for(a)
    token = body["access_token"]
    other = _high_s(token)
    assert other != token
    # Both signatures verify, so process b caches the token twice, under two keys.
    for value in (token, other):
        assert (await b.get("/auth/me", headers=bearer(value))).status == 200
    assert (await a.post("/auth/revoke", json={"token": token})).status == 200
    await asyncio.sleep(0.15)
    statuses = [(await b.get("/auth/me", headers=bearer(value))).status for value in (token, other)]
    assert statuses == [401, 401]


async def test_logging_out_with_one_signature_drops_the_other_on_this_process(serve, make_settings):
    client = await serve(token_settings(make_settings, tokens={"algorithm": "ES256"}))
    await client.server.app[SERVICES].bus.connected.wait()
    body, _ = await tokens_for(client)
    token = body["access_token"]
    other = _high_s(token)
    for value in (token, other):
        assert (await client.get("/auth/me", headers=bearer(value))).status == 200
    assert (await client.post("/auth/logout", headers=bearer(other))).status == 204
    assert await _unauthorized(await client.get("/auth/me", headers=bearer(token)))
