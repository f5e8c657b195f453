"""Raw HTTP/1.1 on a socket (bytes in, bytes out), a served app in a thread, and what the
fuzz tests assert of every reply (invariant 5)."""
from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass, field

from sqlalchemy import text

from app.http.appkeys import SERVICES
from app.http.protocol import ProblemAppRunner
from tests.integration.openapi.live import LiveServer

PROBLEM_FIELDS = ("type", "title", "status", "detail", "code")
# Tables whose rows an error reply must leave alone (the outbox and audit log are
# written by events, signing keys by the key ring).
WATCHED_TABLES = ("users", "user_roles", "roles", "role_permissions", "role_parents", "policies",
                  "api_clients", "api_client_roles", "mfa_totp", "mfa_recovery_codes")
DIGEST_SQL = "SELECT " + " || ':' || ".join(
    f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {name} t)"
    for name in WATCHED_TABLES)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str] = field(default_factory=list)

    def json(self):
        return json.loads(self.body)


def send(port: int, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes | None,
         *, host: bytes | None = None, chunked: bool = False, timeout: float = 30) -> Reply:
    head = [method + b" " + target + b" HTTP/1.1",
            b"Host: " + (host if host is not None else b"127.0.0.1:%d" % port), b"Connection: close"]
    payload = b""
    if body is not None:
        if chunked:
            head.append(b"Transfer-Encoding: chunked")
            payload = (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
        else:
            head.append(b"Content-Length: %d" % len(body))
            payload = body
    head += [k + b": " + v for k, v in headers]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"\r\n".join(head) + b"\r\n\r\n" + payload)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return parse_reply(b"".join(chunks), method)


def parse_reply(data: bytes, method: bytes = b"GET") -> Reply:
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
    headers: dict[str, str] = {}
    cookies = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "set-cookie":
            cookies.append(value.strip())
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body, buf = b"", rest
        while buf:
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            body, buf = body + buf[:size], buf[size + 2:]
        rest = body
    return Reply(status, headers, rest, cookies)


def problems_of(reply: Reply, method: bytes) -> list[str]:
    """What is wrong with ``reply`` under invariant 5 (empty: nothing)."""
    found = []
    if reply.status < 0:
        return ["no HTTP reply at all (connection dropped)"]
    if reply.status >= 500 and reply.status != 503:
        found.append(f"status {reply.status}")
    if reply.status >= 400:
        ctype = reply.headers.get("content-type", "").split(";")[0].strip()
        if ctype != "application/problem+json":
            found.append(f"error reply with Content-Type {ctype!r}")
        elif method != b"HEAD":
            try:
                body = reply.json()
            except ValueError:
                found.append("problem body is not JSON")
            else:
                missing = [f for f in PROBLEM_FIELDS if f not in body]
                if missing:
                    found.append(f"problem body lacks {missing}")
                elif body["status"] != reply.status or not isinstance(body["code"], str) or not body["code"]:
                    found.append(f"problem body status/code wrong: {body}")
    if reply.status == 503:
        found.append("503 while Redis and Postgres are up")
    return found


class Unhandled(logging.Handler):
    """Collects the tracebacks of 'unhandled error' logs (the server's 500s)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.records_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.records_lock:
            self.records.append(record)

    def take(self) -> list[str]:
        with self.records_lock:
            records, self.records = self.records, []
        out = []
        for r in records:
            if r.exc_info:
                import traceback

                tb = traceback.extract_tb(r.exc_info[2])
                app_frames = [f for f in tb if "/app/" in f.filename] or list(tb)
                where = f"{app_frames[-1].filename}:{app_frames[-1].lineno}" if app_frames else "?"
                out.append(f"{r.getMessage()}: {type(r.exc_info[1]).__name__}: {r.exc_info[1]} at {where}")
            else:
                out.append(r.getMessage())
        return out


class Served(LiveServer):
    """The app on a real port, behind the runner `python -m app serve` uses, on its own loop,
    with the server's unhandled errors collected."""

    runner_class = ProblemAppRunner

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.unhandled = Unhandled()

    def run(self, coro, timeout: float = 60):
        return super().run(coro, timeout)

    @property
    def services(self):
        return self.app[SERVICES]

    def digest(self) -> str:
        async def read() -> str:
            async with self.services.engine.connect() as conn:
                return (await conn.execute(text(DIGEST_SQL))).scalar_one()
        return self.run(read())

    def __enter__(self) -> "Served":
        super().__enter__()
        for name in ("app.http", "aiohttp.server", "aiohttp.web"):
            logging.getLogger(name).addHandler(self.unhandled)
        return self

    def __exit__(self, *exc) -> None:
        for name in ("app.http", "aiohttp.server", "aiohttp.web"):
            logging.getLogger(name).removeHandler(self.unhandled)
        super().__exit__(*exc)
