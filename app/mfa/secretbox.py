"""Secrets at rest: AES-256-GCM under ``security.data_key``, bound to their owner.

``data_key`` is one or more comma-separated urlsafe-base64 32-byte keys: the first
encrypts, all decrypt (rotation: prepend a new key, re-encrypt, drop the old).
A sealed value is ``v1.<key id>.<base64url(nonce || ciphertext)>``; the owner id is
authenticated data, so a row copied onto another user does not open.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
NONCE_BYTES = 12


class SecretBoxKeyError(ValueError):
    pass


class UnsealError(Exception):
    pass


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_data_key() -> str:
    return _b64e(os.urandom(32))


class SecretBox:
    def __init__(self, data_key: str) -> None:
        self._keys: dict[str, AESGCM] = {}
        self._current: str | None = None
        for part in (p.strip() for p in data_key.split(",")):
            if not part:
                continue
            try:
                raw = _b64d(part)
            except (binascii.Error, ValueError) as e:
                raise SecretBoxKeyError("security.data_key must be urlsafe base64") from e
            if len(raw) != 32:
                raise SecretBoxKeyError("security.data_key entries must be 32 bytes (base64 of 32 random bytes)")
            kid = hashlib.sha256(raw).hexdigest()[:8]
            self._keys[kid] = AESGCM(raw)
            self._current = self._current or kid

    @property
    def configured(self) -> bool:
        return self._current is not None

    def seal(self, plaintext: bytes, *, owner: str) -> str:
        if self._current is None:
            raise SecretBoxKeyError("no data key configured")
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, plaintext, owner.encode())
        return f"{VERSION}.{self._current}.{_b64e(nonce + sealed)}"

    def open(self, sealed: str, *, owner: str) -> bytes:
        """:raises UnsealError: unknown format or key, or tampered/foreign ciphertext."""
        try:
            version, kid, body = sealed.split(".", 2)
            key = self._keys[kid] if version == VERSION else None
            raw = _b64d(body)
        except (ValueError, KeyError, binascii.Error) as e:
            raise UnsealError("unreadable sealed value") from e
        if key is None:
            raise UnsealError("unknown version")
        try:
            return key.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], owner.encode())
        except InvalidTag as e:
            raise UnsealError("tampered or foreign ciphertext") from e
