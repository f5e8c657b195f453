"""DeviceCookie.read: only what secrets.token_urlsafe(DEVICE_TOKEN_BYTES) makes is a device token."""
import secrets

import pytest
from aiohttp.test_utils import make_mocked_request

from app.http.device_cookie import DeviceCookie
from app.settings import Settings
from app.throttle.limiter import DEVICE_TOKEN_BYTES

COOKIES = DeviceCookie(Settings(cookie={"name": "sid"}))


def presented(value: str) -> str | None:
    return COOKIES.read(make_mocked_request("POST", "/auth/login", headers={"Cookie": f"sid-device={value}"}))


def test_a_token_as_issued_is_read():
    for _ in range(50):
        token = secrets.token_urlsafe(DEVICE_TOKEN_BYTES)
        assert presented(token) == token


@pytest.mark.parametrize("value", [
    "A" * 42, "A" * 44, "x" * 5000,  # the wrong length
    "A" * 42 + "=", "A" * 42 + "+", "A" * 42 + "/", "A" * 42 + "é", "A" * 42 + "\n",  # not base64url
    "",
])
def test_anything_else_is_no_device(value):
    assert presented(value) is None
