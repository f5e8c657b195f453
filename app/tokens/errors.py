"""Token errors. Bearer failures are 401 ``invalid_token`` with the RFC 6750 challenge;
grant failures are OAuth2-shaped (RFC 6749 §5.2): 400 with ``error`` beside the
problem+json fields."""
from __future__ import annotations

from typing import Any

from app.errors import AuthError, ServiceUnavailableError, UnauthenticatedError


class InvalidTokenError(UnauthenticatedError):
    """An access token that is malformed, forged, expired, revoked or not an access token."""

    code, title = "invalid_token", "The access token is not valid"
    detail = "The access token is invalid, expired or revoked."

    def __init__(self, detail: str | None = None, *, reason: str = "invalid", **extra: Any) -> None:
        super().__init__(detail, **extra)
        # Why, for the security log only: the reply says no more than invalid_token.
        self.reason = reason
        self.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'


class OAuthError(AuthError):
    status = 400

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.extra.setdefault("error", self.code)
        self.extra.setdefault("error_description", self.detail or self.title)
        self.headers["Cache-Control"] = "no-store"


class InvalidGrantError(OAuthError):
    code, title = "invalid_grant", "The grant is not valid"
    detail = "The credentials or refresh token are invalid, expired or revoked."


class AccessTokenTooLargeError(InvalidGrantError):
    """The account's roles make an access token no request could carry (roles set before
    the limit on them, ``app.authz.names.ROLES_CLAIM_BUDGET``, existed)."""

    detail = "The account holds more roles than fit in an access token; an admin must remove some."


class InvalidTokenRequestError(OAuthError):
    code, title = "invalid_request", "The token request is not valid"

    @classmethod
    def from_body_error(cls, error: AuthError) -> InvalidTokenRequestError:
        """A body error (unreadable, too large, wrong media type, bad fields) of an OAuth endpoint.

        RFC 6749 §5.2 (and RFC 7009 §2.2.1) gives OAuth clients one shape to read: 400 with
        ``error``. The problem+json ``code`` and ``title`` stay the body error's, as elsewhere."""
        oauth = cls(error.detail or error.title, **error.extra)
        oauth.code, oauth.title = error.code, error.title
        # An undecodable body leaves the connection unusable: the reply must still close it.
        oauth.close_connection = getattr(error, "close_connection", False)
        return oauth


class UnsupportedGrantTypeError(OAuthError):
    code, title = "unsupported_grant_type", "Unsupported grant type"
    detail = "grant_type must be password or refresh_token."


class MfaRequiredError(OAuthError):
    """The password was right but the account has MFA: finish with the mfa grant."""

    code, title = "mfa_required", "A second factor is required"
    detail = "Send grant_type=urn:authsvc:grant-type:mfa with mfa_token and code."


class SigningKeyUnavailableError(ServiceUnavailableError):
    """Web processes run with different key passphrases; this one stopped replacing keys
    (app.tokens.keyring.KeyRing.locked_out)."""

    code, title = "signing_key_unavailable", "No signing key this process can use"
    detail = ("This process cannot decrypt the current signing key, which a process with another key "
              "passphrase made; tokens are issued by the others. Give every process the same passphrase.")
