"""Domain errors. Each carries a stable ``code`` and an HTTP status; the HTTP
layer maps them to problem+json in one middleware and nowhere else."""
from __future__ import annotations

from typing import Any


class AuthError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    detail: str = ""

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.detail or self.title)
        if detail is not None:
            self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}

    def retry_after(self, seconds: int) -> None:
        """When to try again (RFC 9110 Retry-After, whole seconds, at least one)."""
        self.retry_after_s = max(1, int(seconds))
        self.headers["Retry-After"] = str(self.retry_after_s)


class ValidationError(AuthError):
    status, code, title = 422, "invalid_request", "The request is not valid"


class MalformedRequestError(AuthError):
    status, code, title = 400, "malformed_request", "The request body could not be read"


class PayloadTooLargeError(AuthError):
    status, code, title = 413, "payload_too_large", "The request body is too large"


class UnsupportedMediaTypeError(AuthError):
    status, code, title = 415, "unsupported_media_type", "Send application/json"


class WeakPasswordError(AuthError):
    status, code, title = 422, "weak_password", "The password does not meet the policy"


class InvalidCredentialsError(AuthError):
    status, code, title = 401, "invalid_credentials", "Invalid credentials"
    detail = "The email or password is not correct."


class UnauthenticatedError(AuthError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class SessionExpiredError(UnauthenticatedError):
    code = "session_expired"


class ReauthenticationRequiredError(AuthError):
    status, code, title = 401, "reauthentication_required", "Recent authentication required"


class CsrfError(AuthError):
    status, code, title = 403, "csrf_failed", "CSRF check failed"


class ForbiddenError(AuthError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFoundError(AuthError):
    status, code, title = 404, "not_found", "Not found"


class ConflictError(AuthError):
    status, code, title = 409, "conflict", "Conflict"


class TooManyAttemptsError(AuthError):
    status, code, title = 429, "too_many_attempts", "Too many attempts"

    def __init__(self, retry_after_s: int, detail: str | None = None) -> None:
        super().__init__(detail or "Too many attempts; try again later.")
        self.retry_after(retry_after_s)


class ServiceUnavailableError(AuthError):
    status, code, title = 503, "service_unavailable", "A backing service is unavailable"
    detail = "The service cannot reach its data stores; try again shortly."


class OverloadedError(ServiceUnavailableError):
    """More password hashing is queued than can finish in time: refused now, not queued.
    A 503 like the others, so no caller takes it for a refused credential."""
    code, title = "overloaded", "The service is overloaded"

    def __init__(self, retry_after_s: int, detail: str | None = None) -> None:
        super().__init__(detail or "Too many password checks are waiting; try again shortly.")
        self.retry_after(retry_after_s)
