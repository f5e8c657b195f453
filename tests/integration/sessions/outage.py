"""Backing stores we can stop and start: a private redis-server and a TCP proxy in
front of the shared Postgres that can also play a restarting one (the shared services
themselves are never touched)."""
from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import subprocess
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until_ready(client, seconds: float = 10) -> None:
    """Wait for /readyz to answer 200 again (the service recovers by itself: invariant 3)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if (await client.get("/readyz")).status == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("did not recover")


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="authsvc-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # a crash, not a polite shutdown
            self.proc.wait(timeout=10)
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``stop`` refuses new connections and
    cuts the open ones, ``start`` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 3)
        except (OSError, asyncio.TimeoutError):
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)


def _fatal(code: str, message: str) -> bytes:
    """A Postgres ErrorResponse message of severity FATAL."""
    body = b"SFATAL\0VFATAL\0C" + code.encode() + b"\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


class RestartingPostgres(TcpProxy):
    """A proxy to the shared Postgres that can play its restart window: ``begin_restart``
    cuts the open connections, and until ``end_restart`` every new one is refused the way
    a server that is starting up refuses it (FATAL 57P03) instead of with a closed port."""

    SSL_REQUEST = 80877103

    def __init__(self, host: str = "127.0.0.1", port: int = 5432) -> None:
        super().__init__(host, port)
        self.starting_up = False

    async def begin_restart(self) -> None:
        self.starting_up = True
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def end_restart(self) -> None:
        self.starting_up = False

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.starting_up:
            return await super()._handle(reader, writer)
        try:
            startup = await self._read_startup(reader)
            if struct.unpack("!I", startup[:4])[0] == self.SSL_REQUEST:  # no TLS; the real startup follows
                writer.write(b"N")
                await writer.drain()
                await self._read_startup(reader)
            writer.write(_fatal("57P03", "the database system is starting up"))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _read_startup(reader: asyncio.StreamReader) -> bytes:
        length = struct.unpack("!I", await reader.readexactly(4))[0]
        return await reader.readexactly(length - 4)
