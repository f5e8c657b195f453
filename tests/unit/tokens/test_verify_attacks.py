"""Each attack on access-token verification as its own forged token (RFC 8725)."""
from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from app.tokens.errors import InvalidTokenError
from app.tokens.verify import AccessTokenVerifier
from tests.unit.tokens.forge import (AUDIENCE, ISSUER, attacker_key, claims, hmac_signed, make_key, sign,
                                     unsigned)

NOW = 1_800_000_000.0
LEEWAY = 30


class FakeKeyRing:
    def __init__(self, *keys) -> None:
        self.by_kid = {k.kid: k for k in keys}
        self.looked_up: list[str] = []

    async def verifying_key(self, kid: str):
        from app.tokens.keys import KID_PATTERN

        if not KID_PATTERN.fullmatch(kid):
            return None
        self.looked_up.append(kid)
        return self.by_kid.get(kid)


class FakeStore:
    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.epochs: dict[str, float] = {}
        self.calls = 0

    async def access_state(self, jti: str, user_id: str, now: float):
        self.calls += 1
        return jti in self.revoked, self.epochs.get(user_id, 0.0)


@pytest.fixture
def key():
    return make_key()


@pytest.fixture
def store():
    return FakeStore()


@pytest.fixture
def verifier(key, store):
    return AccessTokenVerifier(keyring=FakeKeyRing(key), store=store, issuer=ISSUER, audience=AUDIENCE,
                               leeway_s=LEEWAY, max_bytes=8192, clock=lambda: NOW)


async def rejected(verifier, token: str, reason: str | None = None) -> None:
    with pytest.raises(InvalidTokenError) as info:
        await verifier.verify(token)
    if reason is not None:
        assert info.value.reason.startswith(reason), info.value.reason
    assert info.value.code == "invalid_token"


async def test_a_genuine_token_passes(verifier, key):
    got = await verifier.verify(sign(key, claims(NOW)))
    assert got.sub == "user-1" and got.roles == ("reader",)


async def test_alg_none_is_rejected(verifier, key):
    token = unsigned({"alg": "none", "typ": "at+jwt", "kid": key.kid}, claims(NOW))
    # Its empty signature segment is not the compact form: refused before the header is read.
    await rejected(verifier, token, "not_a_jwt")


async def test_alg_none_with_a_fake_signature_is_rejected(verifier, key):
    token = unsigned({"alg": "None", "typ": "at+jwt", "kid": key.kid}, claims(NOW), b"x" * 64)
    await rejected(verifier, token, "alg_not_allowed")


async def test_hmac_signed_with_the_public_key_pem_is_rejected(verifier, key):
    pem = key.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = hmac_signed({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}, claims(NOW), pem)
    await rejected(verifier, token, "alg_not_allowed")


async def test_hmac_signed_with_the_raw_public_key_and_asymmetric_alg_label_is_rejected(verifier, key):
    raw = key.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    # Claims EdDSA in the header but carries an HMAC over the public key: the signature fails.
    token = hmac_signed({"alg": "EdDSA", "typ": "at+jwt", "kid": key.kid}, claims(NOW), raw)
    await rejected(verifier, token, "bad_signature")


@pytest.mark.parametrize("header", ["jwk", "jku", "x5u", "x5c"])
async def test_embedded_key_material_or_key_urls_are_rejected(verifier, key, header):
    mine = attacker_key()
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(mine.public_key(), as_dict=True)
    value = {"jwk": jwk, "jku": "https://evil.example/jwks.json", "x5u": "https://evil.example/cert.pem",
             "x5c": ["MIIBszCCAVmgAwIBAgIU"]}[header]
    # Signed with the attacker's key, pointing at the attacker's key; even our kid does not help.
    token = jwt.encode(claims(NOW), mine, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": key.kid, header: value})
    await rejected(verifier, token, "embedded_key_header")


async def test_embedded_jwk_signed_by_our_key_is_still_rejected(verifier, key):
    token = sign(key, claims(NOW), jwk=key.public_jwk)
    await rejected(verifier, token, "embedded_key_header")


async def test_unknown_kid_is_rejected(verifier):
    other = make_key()
    await rejected(verifier, sign(other, claims(NOW)), "unknown_kid")


@pytest.mark.parametrize("kid", ["../../../../etc/passwd", "..%2f..%2fkeys", "/dev/zero", "a" * 100_000,
                                 "key' OR '1'='1", "k\x00id-00000", ""])
async def test_hostile_kid_is_refused_before_any_lookup(verifier, key, kid):
    token = jwt.encode(claims(NOW), key.private_key, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": kid})
    await rejected(verifier, token)
    assert kid not in verifier.keyring.looked_up


async def test_non_string_kid_is_rejected(verifier, key):
    from tests.unit.tokens.forge import b64, b64json

    signing_input = f"{b64json({'alg': 'EdDSA', 'typ': 'at+jwt', 'kid': 7})}.{b64json(claims(NOW))}"
    token = signing_input + "." + b64(key.private_key.sign(signing_input.encode()))
    await rejected(verifier, token)


async def test_oversized_token_is_rejected_without_parsing(verifier, key):
    token = sign(key, claims(NOW, pad="x" * 10_000))
    await rejected(verifier, token, "not_a_jwt")


async def test_alg_that_does_not_match_the_key_is_rejected(key, store):
    es = make_key("ES256")
    verifier = AccessTokenVerifier(keyring=FakeKeyRing(key, es), store=store, issuer=ISSUER, audience=AUDIENCE,
                                   leeway_s=LEEWAY, max_bytes=8192, clock=lambda: NOW)
    # An EdDSA signature presented as ES256 under the EdDSA key's kid.
    token = sign(key, claims(NOW))
    header, payload, sig = token.split(".")
    from tests.unit.tokens.forge import b64json

    forged = ".".join([b64json({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}), payload, sig])
    await rejected(verifier, forged, "alg_key_mismatch")


async def test_tampered_claims_break_the_signature(verifier, key):
    token = sign(key, claims(NOW))
    header, _, sig = token.split(".")
    from tests.unit.tokens.forge import b64json

    forged = ".".join([header, b64json(claims(NOW, roles=["admin"])), sig])
    await rejected(verifier, forged, "bad_signature")


async def test_wrong_issuer_is_rejected(verifier, key):
    await rejected(verifier, sign(key, claims(NOW, iss="https://evil.example")), "wrong_iss")


async def test_wrong_audience_is_rejected(verifier, key):
    await rejected(verifier, sign(key, claims(NOW, aud="another-api")), "wrong_aud")
    await rejected(verifier, sign(key, claims(NOW, aud=["another-api", "third"])), "wrong_aud")


async def test_audience_list_containing_ours_passes(verifier, key):
    assert (await verifier.verify(sign(key, claims(NOW, aud=["other", AUDIENCE])))).sub == "user-1"


@pytest.mark.parametrize("missing", ["iss", "aud", "exp", "nbf", "iat", "sub", "jti"])
async def test_each_required_claim_is_required(verifier, key, missing):
    await rejected(verifier, sign(key, claims(NOW, **{missing: None})), "missing_claims")


async def test_expiry_at_the_leeway_edges(verifier, key):
    # Valid until exp + leeway (exclusive): one second before passes, the edge itself fails.
    ok = sign(key, claims(NOW, exp=int(NOW) - LEEWAY + 1, jti="edge-ok"))
    assert (await verifier.verify(ok)).jti == "edge-ok"
    await rejected(verifier, sign(key, claims(NOW, exp=int(NOW) - LEEWAY, jti="edge-dead")), "expired")
    await rejected(verifier, sign(key, claims(NOW, exp=int(NOW) - LEEWAY - 1, jti="past")), "expired")


async def test_not_before_at_the_leeway_edges(verifier, key):
    ok = sign(key, claims(NOW, nbf=int(NOW) + LEEWAY, jti="nbf-ok"))
    assert (await verifier.verify(ok)).jti == "nbf-ok"
    await rejected(verifier, sign(key, claims(NOW, nbf=int(NOW) + LEEWAY + 1, jti="nbf-early")), "not_yet_valid")


async def test_issued_in_the_future_beyond_leeway_is_rejected(verifier, key):
    await rejected(verifier, sign(key, claims(NOW, iat=int(NOW) + LEEWAY + 1)), "issued_in_future")


async def test_non_numeric_time_claims_are_rejected(verifier, key):
    await rejected(verifier, sign(key, claims(NOW, exp="never")), "exp_not_numeric")
    await rejected(verifier, sign(key, claims(NOW, exp=True)), "exp_not_numeric")


@pytest.mark.parametrize("typ", [None, "JWT", "rt+jwt", "application/jwt"])
async def test_a_jwt_of_another_type_is_not_an_access_token(verifier, key, typ):
    headers = {"kid": key.kid}
    token = jwt.encode(claims(NOW), key.private_key, algorithm="EdDSA", headers={**headers, "typ": typ})
    await rejected(verifier, token, "wrong_typ")


async def test_an_opaque_refresh_token_is_not_an_access_token(verifier):
    import secrets

    await rejected(verifier, secrets.token_urlsafe(32), "not_a_jwt")


async def test_garbage_is_rejected_not_crashed(verifier):
    for token in ["a.b.c", "..", "e30.e30.", "eyJhbGciOiJFZERTQSJ9.!!!.abc", "\x00.\x00.\x00", "é.é.é"]:
        await rejected(verifier, token)


async def test_revoked_jti_is_rejected(verifier, key, store):
    token = sign(key, claims(NOW, jti="to-revoke"))
    assert (await verifier.verify(token)).jti == "to-revoke"
    store.revoked.add("to-revoke")
    await rejected(verifier, token, "revoked")


async def test_token_issued_at_or_before_the_user_epoch_is_rejected(verifier, key, store):
    store.epochs["user-1"] = float(int(NOW))
    await rejected(verifier, sign(key, claims(NOW, iat=int(NOW), jti="at-epoch")), "before_user_epoch")
    await rejected(verifier, sign(key, claims(NOW, iat=int(NOW) - 5, jti="before-epoch")), "before_user_epoch")
    later = sign(key, claims(NOW, iat=int(NOW) + 1, nbf=int(NOW) + 1, jti="after-epoch"))
    assert (await verifier.verify(later)).jti == "after-epoch"


async def test_revocation_is_one_store_call_per_verification(verifier, key, store):
    await verifier.verify(sign(key, claims(NOW)))
    assert store.calls == 1
