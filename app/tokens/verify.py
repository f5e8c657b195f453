"""Access-token verification, in small named steps (RFC 8725, RFC 9068).

1. shape: bounded size, the canonical compact form (three non-empty, unpadded,
   canonical base64url segments), a JSON header;
2. header: ``typ`` at+jwt, ``alg`` one of the pinned asymmetric algorithms, no key
   material or key pointers (``jwk jku x5u x5c x5t crit``), a well-formed ``kid`` that
   names a published key whose algorithm is exactly the header's (so an HMAC token
   "signed" with a public key, or ``alg: none``, never reaches a verifier);
3. signature with that one key;
4. claims: ``iss aud exp nbf iat sub jti`` present and typed; ``now`` and the leeway
   computed once;
5. revocation: the jti's entry and the user's epoch (``iat <= epoch`` is dead), one
   Redis round trip.

A token that passed is cached in-process (see TokenCache), so steps 1-5 run once
per token per process while the invalidation link is up.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable

import jwt
from jwt.exceptions import InvalidTokenError as JwtError

from app.clock import now_s
from app.sessions.record import HeldCredential
from app.tokens.cache import TokenCache
from app.tokens.claims import ACCESS_TYP, AccessClaims
from app.tokens.errors import InvalidTokenError
from app.tokens.keyring import KeyRing
from app.tokens.keys import ALGORITHMS
from app.tokens.store import RedisTokenStore

security_log = logging.getLogger("app.security")

# Headers that would let the token choose its own verification key (RFC 8725 §3.10).
FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64"})
REQUIRED_CLAIMS = ("iss", "aud", "exp", "nbf", "iat", "sub", "jti")
_TYPES = frozenset({ACCESS_TYP, "application/" + ACCESS_TYP})
_MAX_ID = 128
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _canonical_segment(segment: str) -> bool:
    """Whether base64url-decoding ``segment`` and encoding it again gives it back: no spare
    bits set in its last character, no impossible length."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error:
        return False
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == segment


def _number(claims: dict, name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidTokenError(reason=f"{name}_not_numeric")
    return value


def _short_string(claims: dict, name: str) -> str:
    value = claims[name]
    if not isinstance(value, str) or not value or len(value) > _MAX_ID:
        raise InvalidTokenError(reason=f"{name}_malformed")
    return value


class AccessTokenVerifier:
    def __init__(self, *, keyring: KeyRing, store: RedisTokenStore, issuer: str, audience: str,
                 leeway_s: float, max_bytes: int, cache: TokenCache | None = None,
                 clock: Callable[[], float] = now_s) -> None:
        self.keyring = keyring
        self.store = store
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.max_bytes = max_bytes
        self.cache = cache
        self.clock = clock
        # Only the pinned asymmetric algorithms are even registered: "none" and HS* do not exist here.
        self._jws = jwt.PyJWS(algorithms=list(ALGORITHMS))

    async def verify(self, token: str) -> AccessClaims:
        """The claims of a valid, unrevoked access token.

        :raises InvalidTokenError: anything else (``reason`` says why, for logs only).
        """
        now = self.clock()
        cache = self.cache
        if cache is not None:
            hit = cache.get(token, now)
            if hit is not None and now < hit.exp + self.leeway_s:
                return hit
            generation = cache.generation
        claims = await self.verify_offline(token, now)
        revoked, epoch = await self.store.access_state(claims.jti, claims.sub, now)
        if revoked:
            raise InvalidTokenError(reason="revoked")
        if claims.iat <= epoch:
            raise InvalidTokenError(reason="before_user_epoch")
        if cache is not None:
            cache.put(token, claims, now, generation, self.leeway_s)
        return claims

    def held(self, claims: dict) -> HeldCredential:
        """A token verified earlier (its claims) as a credential to check again at a change's
        commit: dead once its jti is revoked or an epoch at or after its iat is set."""
        return HeldCredential(issued_at=float(claims["iat"]), revoked_key=self.store.revoked_key(claims["jti"]))

    async def verify_offline(self, token: str, now: float | None = None) -> AccessClaims:
        """Steps 1-4: what any resource server can check with the JWKS alone."""
        now = self.clock() if now is None else now
        self._check_shape(token)
        header = self._header(token)
        key = await self._key_for(header)
        payload = self._signed_payload(token, key)
        return self._claims(payload, now)

    def _check_shape(self, token: str) -> None:
        # PyJWT decodes leniently (padding, spare bits and stray characters pass), so one
        # token has many spellings, and the cache and the revocation index are keyed by the
        # string: only the one canonical spelling gets further. The alphabet check also keeps
        # undecodable header bytes (lone surrogates) away from PyJWT's token.encode().
        if not token or len(token) > self.max_bytes or not _COMPACT.fullmatch(token):
            raise InvalidTokenError(reason="not_a_jwt")
        if not all(_canonical_segment(segment) for segment in token.split(".")):
            raise InvalidTokenError(reason="not_canonical")

    @staticmethod
    def _header(token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except JwtError as e:
            raise InvalidTokenError(reason="bad_header") from e
        if not isinstance(header, dict):
            raise InvalidTokenError(reason="bad_header")
        embedded = FORBIDDEN_HEADERS.intersection(header)
        if embedded:
            raise InvalidTokenError(reason="embedded_key_header:" + ",".join(sorted(embedded)))
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _TYPES:
            raise InvalidTokenError(reason="wrong_typ")
        if header.get("alg") not in ALGORITHMS:
            raise InvalidTokenError(reason="alg_not_allowed")
        return header

    async def _key_for(self, header: dict):
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidTokenError(reason="no_kid")
        key = await self.keyring.verifying_key(kid)
        if key is None:
            raise InvalidTokenError(reason="unknown_kid")
        if key.alg != header["alg"]:
            raise InvalidTokenError(reason="alg_key_mismatch")
        return key

    def _signed_payload(self, token: str, key) -> dict:
        try:
            decoded = self._jws.decode_complete(token, key.public_key, algorithms=[key.alg])
            payload = json.loads(decoded["payload"])
        except (JwtError, ValueError, TypeError) as e:
            raise InvalidTokenError(reason="bad_signature") from e
        if not isinstance(payload, dict):
            raise InvalidTokenError(reason="payload_not_object")
        return payload

    def _claims(self, claims: dict, now: float) -> AccessClaims:
        missing = [name for name in REQUIRED_CLAIMS if name not in claims]
        if missing:
            raise InvalidTokenError(reason="missing_claims:" + ",".join(missing))
        self._validate_iss(claims)
        self._validate_aud(claims)
        exp, nbf, iat = _number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat")
        self._validate_exp(exp, now)
        self._validate_nbf(nbf, now)
        self._validate_iat(iat, now)
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise InvalidTokenError(reason="roles_malformed")
        auth_time = claims.get("auth_time", iat)
        if isinstance(auth_time, bool) or not isinstance(auth_time, (int, float)):
            raise InvalidTokenError(reason="auth_time_malformed")
        return AccessClaims(sub=_short_string(claims, "sub"), jti=_short_string(claims, "jti"), iat=iat,
                            nbf=int(nbf), exp=int(exp), roles=tuple(roles), auth_time=float(auth_time),
                            raw=claims)

    def _validate_iss(self, claims: dict) -> None:
        if claims["iss"] != self.issuer:
            raise InvalidTokenError(reason="wrong_iss")

    def _validate_aud(self, claims: dict) -> None:
        aud = claims["aud"]
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise InvalidTokenError(reason="wrong_aud")

    def _validate_exp(self, exp: float, now: float) -> None:
        if now >= exp + self.leeway_s:
            raise InvalidTokenError(reason="expired")

    def _validate_nbf(self, nbf: float, now: float) -> None:
        if nbf > now + self.leeway_s:
            raise InvalidTokenError(reason="not_yet_valid")

    def _validate_iat(self, iat: float, now: float) -> None:
        if iat > now + self.leeway_s:
            raise InvalidTokenError(reason="issued_in_future")
