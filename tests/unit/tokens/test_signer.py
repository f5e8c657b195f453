"""The access-token signer against an independent verifier (PyJWT's decode) and against tampering."""
from __future__ import annotations

import time

import jwt
import pytest

from app.tokens.signer import sign_access_token
from tests.unit.tokens.forge import AUDIENCE, b64json, claims, make_key


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_tokens_verify_with_pyjwt_and_carry_the_key_header(alg: str) -> None:
    key = make_key(alg)
    payload = claims(time.time(), roles=["reader", "ünïcode"])
    token = sign_access_token(key, payload)
    decoded = jwt.api_jws.PyJWS().decode_complete(token, key.public_key, algorithms=[alg])
    assert decoded["header"] == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
    assert jwt.decode(token, key.public_key, algorithms=[alg], audience=AUDIENCE) == payload


def test_ed25519_signatures_are_the_bytes_openssl_makes() -> None:
    # libsodium signs; Ed25519 is deterministic, so OpenSSL's signature of the same input
    # must be identical, whatever the input's length.
    key = make_key("EdDSA")
    for size in (0, 1, 63, 64, 65, 500, 4096):
        data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        assert key.signer(data) == key.private_key.sign(data)
    key.public_key.verify(key.signer(b"payload"), b"payload")


def test_a_verify_only_key_has_no_signer() -> None:
    key = make_key()
    public_only = type(key)(kid=key.kid, alg=key.alg, private_key=None, public_key=key.public_key,
                            public_jwk=key.public_jwk, created_at=key.created_at)
    assert public_only.signer is None


def test_each_key_signs_with_its_own_header() -> None:
    first, second = make_key(), make_key()
    payload = claims(time.time())
    assert jwt.get_unverified_header(sign_access_token(first, payload))["kid"] == first.kid
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(sign_access_token(second, payload), first.public_key, algorithms=["EdDSA"], audience=AUDIENCE)


def test_changed_claims_break_the_signature() -> None:
    key = make_key()
    header, _, signature = sign_access_token(key, claims(time.time())).split(".")
    forged = f"{header}.{b64json(claims(time.time(), roles=['admin']))}.{signature}"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key.public_key, algorithms=["EdDSA"], audience=AUDIENCE)
