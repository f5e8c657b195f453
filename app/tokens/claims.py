"""Access-token claims as the service reads them back."""
from __future__ import annotations

from dataclasses import dataclass, field

ACCESS_TYP = "at+jwt"  # RFC 9068: access tokens are typed, so no other JWT passes as one


@dataclass(slots=True)
class AccessClaims:
    sub: str
    jti: str
    iat: int | float  # a fraction only for a token issued within its revocation epoch's second
    nbf: int
    exp: int
    roles: tuple[str, ...]
    auth_time: float
    raw: dict
    # The HTTP layer's principal for these claims, built once per verified token (a cache
    # hit returns this same object, so the principal is reused too).
    principal: object = field(default=None, compare=False, repr=False)

    def introspection(self) -> dict:
        """RFC 7662 reply fields of an active token."""
        return {"active": True, "token_type": "access_token", "sub": self.sub, "exp": self.exp, "iat": int(self.iat),
                "nbf": self.nbf, "jti": self.jti, "iss": self.raw.get("iss"), "aud": self.raw.get("aud"),
                "roles": list(self.roles)}
