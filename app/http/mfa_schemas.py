"""Request bodies of the MFA routes."""
from __future__ import annotations

from pydantic import Field

from app.http.schemas import MAX_PASSWORD_CHARS, Strict

# A TOTP code is 6 digits, a recovery code 19 characters; room for spaces, nothing more.
MAX_CODE_CHARS = 32


class MfaLogin(Strict):
    mfa_token: str = Field(min_length=1, max_length=128)
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS)


class MfaCode(Strict):
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS)


class MfaDisable(Strict):
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS)


class Reauthentication(Strict):
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)
    code: str | None = Field(default=None, min_length=1, max_length=MAX_CODE_CHARS)
