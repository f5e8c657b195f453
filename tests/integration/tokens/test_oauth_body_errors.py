"""RFC 6749 §5.2 and RFC 7009 §2.2.1: whatever is wrong with the body of POST /auth/token
or /auth/revoke, the reply is 400 with ``error: invalid_request`` (problem+json alongside,
with the body problem's own stable ``code``), so that an OAuth client library can read it."""
import pytest

from tests.integration.tokens.helpers import token_settings

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
TOKEN_CASES = {
    "truncated JSON": (b'{"grant_type": "password"', JSON, "malformed_request"),
    "a JSON array": (b'["password"]', JSON, "malformed_request"),
    "a form that is not UTF-8": (b"grant_type=refresh_token&refresh_token=%ff", FORM, "malformed_request"),
    "a form with a NUL": (b"grant_type=refresh_token&refresh_token=a%00", FORM, "invalid_request"),
    "text/plain": (b"grant_type=password&username=a&password=b", "text/plain", "unsupported_media_type"),
    "too large": (b'{"grant_type": "' + b"x" * 70_000 + b'"}', JSON, "payload_too_large"),
}
REVOKE_CASES = {
    "a token that is not a string": (b'{"token": 5}', JSON, "invalid_request"),
    "truncated JSON": (b'{"token": "x"', JSON, "malformed_request"),
    "a form that is not UTF-8": (b"token=%ff", FORM, "malformed_request"),
    "text/plain": (b"token=x", "text/plain", "unsupported_media_type"),
}


async def _assert_invalid_request(response, code: str) -> None:
    reply = await response.json(content_type="application/problem+json")
    assert (response.status, reply["error"], reply["code"]) == (400, "invalid_request", code), reply
    assert reply["status"] == 400 and reply["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("case", list(TOKEN_CASES))
async def test_a_bad_token_request_body_is_invalid_request(serve, make_settings, case):
    client = await serve(token_settings(make_settings))
    data, ctype, code = TOKEN_CASES[case]
    await _assert_invalid_request(await client.post("/auth/token", data=data, headers={"Content-Type": ctype}),
                                  code)


@pytest.mark.parametrize("case", list(REVOKE_CASES))
async def test_a_bad_revocation_request_body_is_invalid_request(serve, make_settings, case):
    client = await serve(token_settings(make_settings))
    data, ctype, code = REVOKE_CASES[case]
    await _assert_invalid_request(await client.post("/auth/revoke", data=data, headers={"Content-Type": ctype}),
                                  code)
