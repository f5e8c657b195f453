"""problem+json for requests aiohttp refuses before the app sees them.

A request line or header over the parser's limits, or bytes that are not HTTP,
are answered by aiohttp's connection handler itself, in plain text. The service
promises problem+json for every error, so the connection handler is swapped for
one whose error reply has the same shape as the app's (431 for oversized
headers). This reaches into aiohttp's server factory; tests/integration/attacks
/test_parser_errors.py serves through this runner and fails if aiohttp changes.
"""
from __future__ import annotations

import logging
import sys

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from app.http.headers import STATIC
from app.http.problem import problem_response

log = logging.getLogger("app.http")

_CODES = {400: "malformed_request", 413: "payload_too_large", 431: "headers_too_large"}


class ProblemRequestHandler(RequestHandler):
    def log_exception(self, *args, **kw) -> None:
        # A body that does not decode as its Content-Encoding was answered 400 (app.http.body)
        # with Connection: close; aiohttp then drains the rest of it before closing and meets
        # the same error again. The client's fault, and anyone's to repeat: not an ERROR with a
        # traceback per request.
        exc = kw.get("exc_info") or sys.exc_info()[1]
        if isinstance(exc, RequestPayloadError):
            log.info("dropped the rest of an unreadable request body: %s", exc)
            return
        super().log_exception(*args, **kw)

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)  # logs; its body names nothing
        if isinstance(exc, LineTooLong):
            status = 431
        log.info("refused before routing: %s %s", status, type(exc).__name__ if exc else "")
        if request.writer.output_size > 0:
            raise ConnectionError("a reply was already under way")
        title = "The request could not be read" if status == 400 else "Request headers too large"
        response = problem_response(status=status, code=_CODES.get(status, "malformed_request"),
                                    title=title, detail=title, headers=STATIC)
        response.force_close()
        return response


class ProblemServer(Server):
    def __call__(self) -> RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class ProblemAppRunner(web.AppRunner):
    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = ProblemServer  # same state, one method more specific
        return server
