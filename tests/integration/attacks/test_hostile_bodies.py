"""Hostile request bodies against every JSON route: always 4xx problem+json, never 500."""
import gzip
import json

import pytest

from tests.integration.authz.helpers import user
from tests.support.browser import STRONG_PASSWORD, Browser

HUGE = "x" * 70_000
POST_ROUTES = ["/auth/register", "/auth/login", "/auth/login/mfa", "/auth/password", "/auth/reauthenticate",
               "/auth/mfa/totp/confirm", "/auth/mfa/totp/disable", "/auth/mfa/totp/recovery-codes",
               "/authz/check"]

RAW_BODIES = {
    "not json": b"{email: 1",
    "truncated": b'{"email": "a@b.co", "password": "',
    "bad utf-8": b'{"email": "\xff\xfe@b.co", "password": "0123456789012345"}',
    "deep": b"[" * 5000 + b"]" * 5000,
    "deep object": b'{"a":' * 100 + b"1" + b"}" * 100,
    "huge int": b'{"email": ' + b"9" * 5000 + b', "password": "x"}',
    "array": b"[1, 2, 3]",
    "string": b'"hello"',
    "null": b"null",
    "empty": b"",
    "nan": b'{"email": NaN, "password": Infinity}',
    "dup keys": b'{"email": "a@b.co", "email": {"$ne": null}, "password": "x"}',
    "utf-16": json.dumps({"email": "a@b.co", "password": "0123456789012345"}).encode("utf-16"),
}
JSON_BODIES = {
    "nul in email": {"email": "a\x00@b.co", "password": "0123456789012345 long"},
    "nul in password": {"email": "nul@b.co", "password": "0123456789\x00012345 long"},
    "lone surrogate": {"email": "\ud800@b.co", "password": "\udfff0123456789012345"},
    "wrong types": {"email": ["a@b.co"], "password": {"x": 1}, "code": 123456, "mfa_token": None,
                    "current_password": 1, "new_password": True},
    "huge fields": {"email": HUGE[:60_000], "password": "p"},
    "unicode email": {"email": "ü@ñ.example", "password": "ünïcödé passphrase 123"},
    "control chars": {"email": "a\r\nSet-Cookie: x=1@b.co", "password": "\x1b[31m red 0123456789"},
}


@pytest.mark.parametrize("route", POST_ROUTES)
async def test_raw_garbage_is_4xx(serve, make_settings, route):
    client = await serve(make_settings(cookie={"name": "sid", "secure": False}))
    browser = Browser(client, "sid")
    await browser.signed_up()
    for name, raw in RAW_BODIES.items():
        for who in (client, browser):
            headers = {"Content-Type": "application/json"}
            if who is browser:
                reply = await browser.request("POST", route, data=raw, headers=headers)
            else:
                reply = await client.post(route, data=raw, headers=headers)
            text = await reply.text()
            assert 400 <= reply.status < 500, (route, name, reply.status, text)
            assert reply.content_type == "application/problem+json", (route, name)
            assert "Traceback" not in text


@pytest.mark.parametrize("route", POST_ROUTES)
async def test_hostile_json_is_4xx(serve, make_settings, route):
    client = await serve(make_settings(cookie={"name": "sid", "secure": False}))
    browser = Browser(client, "sid")
    await browser.signed_up()
    for name, body in JSON_BODIES.items():
        for who in ("anonymous", "signed in"):
            payload = json.dumps(body).encode()  # json.dumps keeps lone surrogates as \\ud800 escapes
            if who == "signed in":
                reply = await browser.request("POST", route, data=payload, headers={"Content-Type": "application/json"})
            else:
                reply = await client.post(route, data=payload, headers={"Content-Type": "application/json"})
            text = await reply.text()
            assert reply.status < 500, (route, name, who, reply.status, text)
            if reply.status >= 400:
                assert reply.content_type == "application/problem+json", (route, name, who)


async def test_oversized_bodies_are_413_even_without_a_content_length(client):
    async def chunks():
        for _ in range(100):
            yield b"x" * 1024

    declared = await client.post("/auth/login", data=b"{" + b" " * 70_000 + b"}",
                                 headers={"Content-Type": "application/json"})
    assert declared.status == 413 and (await declared.json())["code"] == "payload_too_large"
    streamed = await client.post("/auth/login", data=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status == 413 and (await streamed.json())["code"] == "payload_too_large"


async def test_wrong_media_type_is_415(client):
    for ctype in ("text/plain", "application/xml", "multipart/form-data; boundary=x"):
        reply = await client.post("/auth/login", data=b'{"email":"a@b.co","password":"x"}',
                                  headers={"Content-Type": ctype})
        assert reply.status == 415 and (await reply.json())["code"] == "unsupported_media_type", ctype


async def test_oversized_headers_are_refused_with_a_4xx(client):
    for headers in ({"X-Big": "a" * 20_000}, {"Cookie": "sid=" + "a" * 20_000},
                    {f"X-H{i}": "v" * 100 for i in range(200)}):
        reply = await client.get("/healthz", headers=headers)
        assert 400 <= reply.status < 500, reply.status


async def test_long_urls_and_odd_paths_are_4xx(client):
    for path in ("/auth/sessions/" + "a" * 5000, "/auth/sessions/%00", "/admin/users/not-a-uuid/roles",
                 "/auth/../etc/passwd", "/auth/session?" + "a=b&" * 500):
        reply = await client.get(path)
        assert 400 <= reply.status < 500, (path[:40], reply.status)


async def test_a_member_named_twice_is_refused_not_read_as_the_last_one(client, redis, prefix):
    """A proxy or WAF that keeps the first of two equal names would see another request than the
    one acted on: {"password": <harmless>, "password": <the guess>} must not log anyone in."""
    browser = Browser(client)
    email = await browser.signed_up()
    sessions_before = [k async for k in redis.scan_iter(f"{prefix}:s:*")]
    for raw in ('{"email": %s, "password": "not the password at all", "password": %s}'
                % (json.dumps(email), json.dumps(STRONG_PASSWORD)),
                '{"email": "someone@else.example", "email": %s, "password": %s}'
                % (json.dumps(email), json.dumps(STRONG_PASSWORD))):
        reply = await client.post("/auth/login", data=raw, headers={"Content-Type": "application/json"})
        assert reply.status == 400, (raw, reply.status)
        assert reply.content_type == "application/problem+json"
        assert (await reply.json())["code"] == "malformed_request"
        assert not reply.headers.getall("Set-Cookie", [])
    # Nested objects too (an authz check's resource attributes).
    reply = await browser.request("POST", "/authz/check", data=b'{"subject": {}, "action": "read", "resource": '
                                  b'{"type": "post", "attributes": {"owner": "a", "owner": "b"}}}',
                                  headers={"Content-Type": "application/json"})
    assert reply.status == 400 and (await reply.json())["code"] == "malformed_request"
    assert sorted([k async for k in redis.scan_iter(f"{prefix}:s:*")]) == sorted(sessions_before)


async def test_a_body_that_does_not_decode_is_400_not_500(client):
    """Content-Encoding that is not what it says (aiohttp decodes bodies as they are read): the
    client's mistake, a 400 problem, and a bomb that decodes past the limit is still a 413."""
    garbage = await client.post("/auth/login", data=b"not gzip at all",
                                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert garbage.status == 400, await garbage.text()
    assert garbage.content_type == "application/problem+json"
    assert (await garbage.json())["code"] == "malformed_request"
    # The rest of that body cannot be skipped: the connection is not offered for another request.
    assert garbage.headers.get("Connection", "").lower() == "close"
    truncated = gzip.compress(b'{"email": "a@b.co", "password": "0123456789012345"}')[:-12]
    reply = await client.post("/auth/register", data=truncated,
                              headers={"Content-Type": "application/json", "Content-Encoding": "deflate"})
    assert reply.status == 400 and (await reply.json())["code"] == "malformed_request"
    bomb = gzip.compress(b'{"email": "' + b"a" * 10_000_000 + b'"}')
    reply = await client.post("/auth/login", data=bomb,
                              headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert reply.status == 413 and (await reply.json())["code"] == "payload_too_large"
    # The token endpoint answers in OAuth's shape, and closes the connection all the same.
    oauth = await client.post("/auth/token", data=b"not gzip at all",
                              headers={"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"})
    assert oauth.status == 400 and (await oauth.json())["error"] == "invalid_request"
    assert oauth.headers.get("Connection", "").lower() == "close"


async def test_nan_and_infinity_are_not_json(client):
    """RFC 8259 has no NaN or Infinity; Python's parser takes them. Read as numbers they would
    reach the rule engine, where NaN is in no order: an attribute NaN would escape a deny
    such as {"amount": {"$gt": 1000}}. Refused as the malformed JSON they are."""
    admin, _ = await user(client, "admin")
    for constant in ("NaN", "Infinity", "-Infinity"):
        raw = ('{"subject": {"id": "u1"}, "action": "read", "resource": {"type": "post", '
               '"attributes": {"amount": %s}}}' % constant)
        reply = await admin.request("POST", "/authz/check", data=raw, headers={"Content-Type": "application/json"})
        assert reply.status == 400, (constant, reply.status)
        assert (await reply.json())["code"] == "malformed_request"
