"""Requests aiohttp's parser refuses before routing still get problem+json, through
the runner `python -m app serve` uses (not the test client's)."""
import asyncio
import json
import logging
import socket

import pytest
from aiohttp import web

from app.http.protocol import ProblemAppRunner
from app.server import create_app


@pytest.fixture
async def served(settings):
    runner = ProblemAppRunner(create_app(settings), access_log=None)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


async def _raw(port: int, payload: bytes) -> tuple[int, dict[str, str], dict]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)  # the handler closes the connection
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


async def test_an_oversized_header_is_a_431_problem(served):
    status, headers, body = await _raw(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                                       + b"a" * 20_000 + b"\r\n\r\n")
    assert status == 431 and body["code"] == "headers_too_large" and body["status"] == 431
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"


async def test_an_overlong_request_line_and_garbage_are_problems(served):
    status, _, body = await _raw(served, b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 431 and body["code"] == "headers_too_large"
    status, headers, body = await _raw(served, b"\x16\x03\x01\x02\x00 not http\r\n\r\n")
    assert status == 400 and body["code"] == "malformed_request"
    assert headers["content-type"] == "application/problem+json"


async def test_the_runner_still_serves_the_app(served):
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    assert data.startswith(b"HTTP/1.1 200")


async def test_an_undecodable_body_is_a_400_and_no_error_log(served, caplog):
    """A body that is not the gzip it claims is the client's fault, answered 400: the rest of it,
    which aiohttp reads again when it drains the connection, must not log an ERROR with a
    traceback per request (anyone could fill the error log, or page whoever watches it)."""
    body = b"not gzip at all"
    with caplog.at_level(logging.INFO):
        status, headers, problem = await _raw(served, b"POST /auth/login HTTP/1.1\r\nHost: x\r\n"
                                              b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
                                              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        await asyncio.sleep(0.05)  # the drain after the reply
    assert status == 400 and problem["code"] == "malformed_request"
    assert headers["connection"].lower() == "close"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
