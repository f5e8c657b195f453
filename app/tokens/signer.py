"""Access-token signing: the JWS compact serialization.

A token's protected header depends only on the signing key, so it is encoded once
per key instead of per token; the claims are encoded once and signed by the key's
own signature function (app.tokens.keys: libsodium for Ed25519, PyJWT's algorithm
for ES256's raw r||s). That is all ``jwt.encode`` would do besides re-encoding the
same header every time.
"""
from __future__ import annotations

import base64
from functools import lru_cache

from app.jsonfmt import compact_json
from app.tokens.claims import ACCESS_TYP
from app.tokens.keys import SigningKey


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


@lru_cache(maxsize=16)  # a key ring holds a handful of keys
def _prefix(alg: str, kid: str) -> bytes:
    header = {"alg": alg, "kid": kid, "typ": ACCESS_TYP}
    return _b64(compact_json(header).encode()) + b"."


def sign_access_token(key: SigningKey, claims: dict) -> str:
    signing_input = _prefix(key.alg, key.kid) + _b64(compact_json(claims).encode())
    signature = key.signer(signing_input)
    return (signing_input + b"." + _b64(signature)).decode()
