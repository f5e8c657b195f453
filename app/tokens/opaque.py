"""Refresh tokens: 256 random bits, stored only as their SHA-256.

A spent token's record keeps its successor for the grace window, encrypted with a
key derived from the spent token itself (HMAC, domain-separated from the storage
hash). Only a holder of the spent token can decrypt it; a dump of Redis has the
hash, from which neither the token nor the key follows.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN_BYTES = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_refresh_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def looks_like_refresh_token(value: str) -> bool:
    return _TOKEN.fullmatch(value) is not None


def hash_refresh_token(token: str) -> str:
    return _b64(hashlib.sha256(token.encode()).digest())


def new_family_id() -> str:
    return _b64(secrets.token_bytes(16))


def _successor_key(spent_token: str) -> bytes:
    return hmac.new(spent_token.encode(), b"authsvc refresh successor v1", hashlib.sha256).digest()


def seal_successor(spent_token: str, successor: str) -> str:
    nonce = os.urandom(12)
    return _b64(nonce + AESGCM(_successor_key(spent_token)).encrypt(nonce, successor.encode(), None))


def open_successor(spent_token: str, blob: str) -> str | None:
    try:
        raw = _unb64(blob)
        return AESGCM(_successor_key(spent_token)).decrypt(raw[:12], raw[12:], None).decode()
    except (InvalidTag, ValueError, UnicodeDecodeError):
        return None
