"""Hand-made JWTs for attack tests: whatever headers, claims and signature an attacker likes."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519

from app.tokens.keys import SigningKey, generate_private_key, public_jwk, thumbprint_kid

ISSUER, AUDIENCE = "https://auth.test", "api"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64json(obj) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def make_key(alg: str = "EdDSA") -> SigningKey:
    private = generate_private_key(alg)
    jwk = public_jwk(private.public_key(), alg)
    return SigningKey(kid=thumbprint_kid(jwk), alg=alg, private_key=private, public_key=private.public_key(),
                      public_jwk=jwk, created_at=time.time())


def claims(now: float, **over) -> dict:
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "jti": "jti-" + str(int(now * 1000)),
            "iat": int(now), "nbf": int(now), "exp": int(now) + 900, "roles": ["reader"]}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: SigningKey, payload: dict, **headers) -> str:
    hdr = {"kid": key.kid, "typ": "at+jwt", **headers}
    return jwt.encode(payload, key.private_key, algorithm=key.alg, headers=hdr)


def unsigned(header: dict, payload: dict, signature: bytes = b"") -> str:
    return f"{b64json(header)}.{b64json(payload)}.{b64(signature)}"


def hmac_signed(header: dict, payload: dict, secret: bytes) -> str:
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def attacker_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()
