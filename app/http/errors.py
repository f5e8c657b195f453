"""The one place exceptions become problem+json."""
from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy.exc import DataError

from app.errors import AuthError, ServiceUnavailableError, ValidationError
from app.http.appkeys import SETTINGS, request_id
from app.http.problem import problem_response
from app.outage import is_store_outage

log = logging.getLogger("app.http")

_HTTP_CODES = {
    400: "malformed_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
    415: "unsupported_media_type", 431: "headers_too_large",
}


def _from_auth_error(exc: AuthError, realm: str = "authsvc") -> web.Response:
    extra = {k: v for k, v in exc.extra.items() if v is not None}
    headers = exc.headers
    if exc.status == 401 and "WWW-Authenticate" not in headers:
        # RFC 9110 11.6.1: every 401 names a scheme. Bearer, not Basic: a Basic challenge
        # makes browsers pop up a login dialog over the page that asked.
        headers = {**headers, "WWW-Authenticate": f'Bearer realm="{realm}"'}
    return problem_response(status=exc.status, code=exc.code, title=exc.title,
                            detail=exc.detail or exc.title, headers=headers, **extra)


def _from_http_exception(exc: web.HTTPException) -> web.Response:
    code = _HTTP_CODES.get(exc.status, "http_error")
    headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate", "Retry-After")}
    return problem_response(status=exc.status, code=code, title=exc.reason, detail=exc.reason,
                            headers=headers)


def problem_for(request: web.Request, exc: Exception) -> web.Response:
    """The problem+json reply for an exception a request raised (re-raises redirects)."""
    if isinstance(exc, AuthError):
        return _from_auth_error(exc, request.app[SETTINGS].clients.realm)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return _from_http_exception(exc)
    if is_store_outage(exc):  # a backing store is unreachable: fail closed
        log.warning("backing store unavailable: %s", type(exc).__name__,
                    extra={"request_id": request_id(request)})
        return _from_auth_error(_unavailable())
    if isinstance(exc, DataError):
        # Postgres refused a value (too long, out of range) that validation let through: the
        # request's fault, not the service's, but a gap in validation the operator should see.
        log.warning("a value passed validation but not the database", exc_info=exc,
                    extra={"request_id": request_id(request)})
        return _from_auth_error(ValidationError("A value is longer or larger than the service stores."))
    log.error("unhandled error", exc_info=exc, extra={"request_id": request_id(request)})
    return _internal(request)


def _unavailable() -> ServiceUnavailableError:
    exc = ServiceUnavailableError()
    exc.retry_after(1)
    return exc


def _internal(request: web.Request) -> web.Response:
    return problem_response(status=500, code="internal_error", title="Internal error",
                            detail="Something went wrong; the request id helps the operator find it.",
                            request_id=request_id(request))
