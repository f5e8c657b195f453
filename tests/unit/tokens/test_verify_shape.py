"""Step 1 of verification: only the canonical compact form of a JWS gets past the shape check.

The token cache and its revocation index are keyed by the token string, so a second
spelling of one token that still verifies would be a second cache entry; and a string
with bytes that were not UTF-8 must be refused as a token, not crash PyJWT."""
from __future__ import annotations

import pytest

from app.tokens.errors import InvalidTokenError
from app.tokens.verify import AccessTokenVerifier
from tests.unit.tokens.forge import AUDIENCE, ISSUER, claims, make_key, sign
from tests.unit.tokens.test_verify_attacks import LEEWAY, NOW, FakeKeyRing, FakeStore

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _padded(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)


def _spare_bits_set(segment: str) -> str:
    # An Ed25519 signature is 86 characters: the last one carries 4 unused bits.
    return segment[:-1] + _ALPHABET[_ALPHABET.index(segment[-1]) | 1]


SPELLINGS = {
    # PyJWT decodes each of these to the same header, payload and signature.
    "signature padded": lambda h, p, s: f"{h}.{p}.{s}==",
    "every segment padded": lambda h, p, s: f"{_padded(h)}.{_padded(p)}.{_padded(s)}",
    # Not UTF-8 on the wire: aiohttp hands these over as lone surrogates.
    "undecodable byte": lambda h, p, s: f"{h}.{p}.{s[:-1]}\udcff",
    "spare bits set": lambda h, p, s: f"{h}.{p}.{_spare_bits_set(s)}",
    "standard alphabet": lambda h, p, s: f"{h}.{p}.{s[:-1]}+",
    "inner whitespace": lambda h, p, s: f"{h}.{p}.{s[:40]} {s[40:]}",
    "trailing newline": lambda h, p, s: f"{h}.{p}.{s}\n",
    "impossible length": lambda h, p, s: f"{h}.{p}.{s}AAA",  # 89 characters: 4n + 1
    "empty signature": lambda h, p, s: f"{h}.{p}.",
}


@pytest.fixture
def key():
    return make_key()


@pytest.fixture
def verifier(key):
    return AccessTokenVerifier(keyring=FakeKeyRing(key), store=FakeStore(), issuer=ISSUER, audience=AUDIENCE,
                               leeway_s=LEEWAY, max_bytes=8192, clock=lambda: NOW)


@pytest.mark.parametrize("spelling", list(SPELLINGS))
async def test_any_other_spelling_is_refused_at_the_shape_step(verifier, key, spelling):
    token = SPELLINGS[spelling](*sign(key, claims(NOW)).split("."))
    with pytest.raises(InvalidTokenError) as info:
        await verifier.verify(token)
    assert info.value.reason in ("not_a_jwt", "not_canonical"), info.value.reason
    assert info.value.code == "invalid_token"
