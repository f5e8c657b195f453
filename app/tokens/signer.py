"""Access-token signing: the JWS compact serialization, with PyJWT's algorithm objects.

A token's protected header depends only on the signing key, so it is encoded once
per key instead of per token; the claims are encoded once and signed. PyJWT still
does the algorithm-specific work (EdDSA; ES256's raw r||s signature), which is all
of what ``jwt.encode`` adds to this besides re-encoding the same header every time.
"""
from __future__ import annotations

import base64
from functools import lru_cache

import jwt

from app.jsonfmt import compact_json
from app.tokens.claims import ACCESS_TYP
from app.tokens.keys import SigningKey


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


@lru_cache(maxsize=16)  # a key ring holds a handful of keys
def _prefix(alg: str, kid: str) -> bytes:
    header = {"alg": alg, "kid": kid, "typ": ACCESS_TYP}
    return _b64(compact_json(header).encode()) + b"."


@lru_cache(maxsize=4)
def _algorithm(alg: str) -> jwt.algorithms.Algorithm:
    return jwt.get_algorithm_by_name(alg)


def sign_access_token(key: SigningKey, claims: dict) -> str:
    signing_input = _prefix(key.alg, key.kid) + _b64(compact_json(claims).encode())
    signature = _algorithm(key.alg).sign(signing_input, key.private_key)
    return (signing_input + b"." + _b64(signature)).decode()
