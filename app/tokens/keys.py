"""Signing keys: generation, the public JWK, and private keys encrypted at rest.

EdDSA (Ed25519) by default, ES256 (P-256) by setting. A private key leaves memory
only as encrypted PKCS#8 (``BestAvailableEncryption`` with the key passphrase), so
a database dump holds no usable signing key.

Ed25519 signatures are made by libsodium (PyNaCl), not by the OpenSSL inside
``cryptography``: that one signs on its portable 32-bit field arithmetic (36 us a
token here, a third of a refresh grant's instructions), libsodium on 64-bit limbs
(22 us). Ed25519 is deterministic, so the signatures are the same bytes
(tests/unit/tokens/test_signer.py); keys, JWKs and verification stay with
``cryptography`` and PyJWT.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import nacl.bindings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

ALGORITHMS = ("EdDSA", "ES256")
# kids we mint are 22 base64url characters; anything else is refused before any lookup.
KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")


class KeyPassphraseError(Exception):
    """The stored private key cannot be decrypted with the configured passphrase."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    private_key: Any  # Ed25519PrivateKey | EllipticCurvePrivateKey, or None for a verify-only key
    public_key: Any
    public_jwk: dict[str, Any]
    created_at: float
    superseded_at: float | None = None
    # The JWS signature of a signing input (None for a verify-only key); made from private_key.
    signer: Callable[[bytes], bytes] | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.private_key is not None:
            object.__setattr__(self, "signer", signature_function(self.private_key, self.alg))


def signature_function(private_key, alg: str) -> Callable[[bytes], bytes]:
    """What signs for ``private_key``: the raw JWS signature (Ed25519's 64 bytes, ES256's r||s)."""
    if alg == "EdDSA":
        seed = private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption())
        _, secret_key = nacl.bindings.crypto_sign_seed_keypair(seed)
        size = nacl.bindings.crypto_sign_BYTES

        def sign_ed25519(data: bytes) -> bytes:
            return nacl.bindings.crypto_sign(data, secret_key)[:size]  # signature || message
        return sign_ed25519
    algorithm = jwt.get_algorithm_by_name(alg)
    return lambda data: algorithm.sign(data, private_key)


def generate_private_key(alg: str):
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def public_jwk(public_key, alg: str) -> dict[str, Any]:
    """The JWK a resource server needs (RFC 8037 for OKP, RFC 7518 for EC), without kid."""
    if alg == "EdDSA":
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw)}
    numbers = public_key.public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big"))}


def thumbprint_kid(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint (128 bits of it): a kid that names the key material itself."""
    members = {k: jwk[k] for k in sorted(jwk) if k in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return _b64(digest[:16])


def encrypt_private_key(private_key, passphrase: bytes) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase)).decode()


def decrypt_private_key(pem: str, passphrase: bytes):
    """:raises KeyPassphraseError: wrong passphrase or damaged key."""
    try:
        return serialization.load_pem_private_key(pem.encode(), password=passphrase)
    except (ValueError, TypeError) as e:
        raise KeyPassphraseError("cannot decrypt a signing key: is tokens.keys_passphrase "
                                 "(or <keys_dir>/passphrase) the one the key was made with?") from e


def public_key_from_jwk(jwk: dict[str, Any], alg: str):
    def num(value: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")

    if alg == "EdDSA":
        x = jwk["x"]
        return ed25519.Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
    return ec.EllipticCurvePublicNumbers(num(jwk["x"]), num(jwk["y"]), ec.SECP256R1()).public_key()
