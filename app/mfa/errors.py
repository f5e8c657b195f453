"""MFA errors, each with a stable code (mapped to problem+json by the HTTP layer)."""
from __future__ import annotations

from app.errors import AuthError, ConflictError, ServiceUnavailableError, UnauthenticatedError


class InvalidMfaCodeError(UnauthenticatedError):
    code, title = "invalid_mfa_code", "The code is not valid"
    detail = "The code is wrong, expired or already used."


class MfaTokenInvalidError(UnauthenticatedError):
    code, title = "mfa_token_invalid", "The MFA token is not valid"
    detail = "The MFA token is unknown, expired or used; log in again."


class MfaAlreadyEnabledError(ConflictError):
    code, title = "mfa_already_enabled", "MFA is already enabled"


class MfaNotEnabledError(ConflictError):
    code, title = "mfa_not_enabled", "MFA is not enabled"


class MfaSetupNotStartedError(ConflictError):
    code, title = "mfa_setup_not_started", "Start the TOTP setup first"


class MfaNotConfiguredError(ServiceUnavailableError):
    code, title = "mfa_not_configured", "MFA is not configured on this server"
    detail = "The operator has not set security.data_key, which encrypts MFA secrets."


class MfaSecretUnreadableError(AuthError):
    """A stored secret that no configured key opens (a removed key): fail closed."""
    status, code, title = 503, "mfa_not_configured", "MFA is not configured on this server"
    detail = "The stored MFA secret cannot be decrypted with the configured keys."

