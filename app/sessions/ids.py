"""Session ids: 256 random bits, never data; only their SHA-256 is stored."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

ID_BYTES = 32
HANDLE_CHARS = 16


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_session_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


# 32 bytes in unpadded base64url are exactly 43 characters.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")


def looks_like_session_id(value: str) -> bool:
    return _SESSION_ID.fullmatch(value) is not None


def hash_session_id(session_id: str) -> str:
    """The storage key of a session: a dump of Redis yields only these.

    128 bits of SHA-256 are plenty for a 256-bit random id (no preimage, no
    collision in practice) and keep keys and index entries short: they are
    stored three times per session.
    """
    return _b64(hashlib.sha256(session_id.encode()).digest()[:16])


def handle_of(sid_hash: str) -> str:
    """What users see for a session: a prefix of the stored hash, never the id."""
    return sid_hash[:HANDLE_CHARS]


def csrf_token_for(session_id: str) -> str:
    """Synchronizer token derived from the secret id, so nothing extra is stored
    and the token cannot be turned back into the id."""
    return _b64(hmac.new(session_id.encode(), b"csrf-v1", hashlib.sha256).digest())


def csrf_matches(session_id: str, presented: str) -> bool:
    # A header's bytes that are not UTF-8 arrive as lone surrogates, which encode() refuses;
    # our tokens are ASCII, so any other token simply does not match.
    if not presented.isascii():
        return False
    return hmac.compare_digest(csrf_token_for(session_id).encode(), presented.encode())
