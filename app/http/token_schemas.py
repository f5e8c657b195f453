"""Bodies of the token routes (JSON or form)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MFA_GRANT = "urn:authsvc:grant-type:mfa"
_TOKEN_CHARS = 8192


class TokenRequest(BaseModel):
    """RFC 6749 §4.3 / §6 (and the MFA step). Which fields are needed depends on grant_type."""

    model_config = ConfigDict(extra="ignore", strict=True)
    grant_type: str = Field(min_length=1, max_length=200)
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=4096)
    refresh_token: str | None = Field(default=None, max_length=_TOKEN_CHARS)
    mfa_token: str | None = Field(default=None, max_length=512)
    code: str | None = Field(default=None, max_length=64)
    scope: str | None = Field(default=None, max_length=1000)


class RevokeRequest(BaseModel):
    """RFC 7009 §2.1 (``token`` may come from the refresh cookie under the browser transport)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    token: str | None = Field(default=None, max_length=_TOKEN_CHARS)
    token_type_hint: str | None = Field(default=None, max_length=64)


class IntrospectRequest(BaseModel):
    """RFC 7662 §2.1."""

    model_config = ConfigDict(extra="ignore", strict=True)
    # No length cap: RFC 7662 2.3 wants an over-long token answered inactive, not refused
    # (the body limit bounds it, and verification refuses it before any work).
    token: str = Field(min_length=1)
    token_type_hint: Literal["access_token", "refresh_token"] | str | None = Field(default=None, max_length=64)
