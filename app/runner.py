"""Running the web process(es).

With ``http.workers`` > 1 the parent forks that many single-threaded aiohttp
processes sharing the port through SO_REUSEPORT; the kernel spreads connections.
They share nothing in memory: sessions, revocations and cache invalidation go
through Redis, so any process can answer any request.

``serve`` returns the exit status: 0 after a requested stop, 2 when the address
cannot be listened on (said in one sentence naming host:port), 1 when a process
died otherwise. With several processes the parent announces the address only once
every child listens, and stops them all if one cannot.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import multiprocessing
import os
import queue
import signal
import socket
import sys
from collections.abc import Callable

from aiohttp import web

from app.http.protocol import ProblemAppRunner
from app.server import create_app
from app.settings import Settings

LISTEN_FAILED = 2

# What an operator can do about the usual reasons a bind fails.
_HINTS = {
    errno.EADDRINUSE: "another process holds it: stop that one, or choose another port (--port, AUTH_HTTP__PORT)",
    errno.EACCES: "ports below 1024 need privileges: choose another port (--port, AUTH_HTTP__PORT)",
    errno.EADDRNOTAVAIL: "no interface of this machine has that address (--host, AUTH_HTTP__HOST)",
}


class ListenError(Exception):
    """The address cannot be listened on; the message is the sentence for the operator."""


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _listen_error(host: str, port: int, error: OSError) -> ListenError:
    if isinstance(error, socket.gaierror) or not error.errno:
        reason = error.strerror or str(error)  # a host name that does not resolve
    else:
        reason = os.strerror(error.errno)  # asyncio's own message repeats the address
    hint = _HINTS.get(error.errno or 0)
    return ListenError(f"error: cannot listen on {address(host, port)} ({reason})" + (f"; {hint}" if hint else ""))


def _check_listenable(host: str, port: int) -> None:
    """Bind (without listening) every address the web processes will, and let go: a port in
    use is then said at once, not after each process built its services. Never with
    SO_REUSEPORT, though several processes bind with it: the kernel would let this probe, and
    then them, join the listeners of another instance run by the same user (a second
    ``serve --workers 2`` on the port), which would then silently share its traffic.

    :raises ListenError: as the processes would (they still handle a port taken meanwhile).
    """
    try:
        # As asyncio's create_server resolves it: "" is every interface.
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as e:
        raise _listen_error(host, port, e) from None
    for family, kind, proto, _, sockaddr in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # asyncio's default on POSIX
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(sockaddr)
            except OSError as e:
                raise _listen_error(host, port, e) from None


def _install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is optional (e.g. on Windows)
        pass


async def _serve_until_signalled(app: web.Application, host: str, port: int, reuse_port: bool,
                                 listening: Callable[[int], None]) -> None:
    """:raises ListenError: the socket could not be bound."""
    # web.run_app, but through the runner whose connection handler answers parse errors in problem+json.
    runner = ProblemAppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
        except OSError as e:  # in use, not ours, not an address (socket.gaierror is one too)
            raise _listen_error(host, port, e) from None
        # With port 0 the kernel chose one: announce that, not 0.
        listening(runner.addresses[0][1] if runner.addresses else port)
        await asyncio.Event().wait()  # until SIGINT/SIGTERM (GracefulExit) cancels this
    finally:
        await runner.cleanup()


def _run_one(settings: Settings, host: str, port: int, reuse_port: bool,
             listening: Callable[[int], None]) -> None:
    """:raises ListenError: see _serve_until_signalled."""
    _install_uvloop()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(_serve_until_signalled(create_app(settings), host, port, reuse_port, listening))
    except (web.GracefulExit, KeyboardInterrupt):
        pass


def _child(settings: Settings, host: str, port: int, status: multiprocessing.Queue) -> None:
    """One of several web processes: tells the parent whether it listens, and exits 2 if not."""
    try:
        _run_one(settings, host, port, True, lambda bound: status.put(("listening", os.getpid(), "")))
    except ListenError as e:
        status.put(("failed", os.getpid(), str(e)))
        sys.exit(LISTEN_FAILED)


def serve(settings: Settings, *, host: str, port: int) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status (see the module docstring)."""
    workers = settings.http.processes
    if workers > 1 and port == 0:
        print(f"error: port 0 (any free port) needs a single web process: {workers} would each listen on a "
              f"port of its own; give a port (--port, AUTH_HTTP__PORT) or --workers 1", file=sys.stderr)
        return LISTEN_FAILED
    try:
        _check_listenable(host, port)
        if workers > 1:
            return _serve_several(settings, host, port, workers)
        _run_one(settings, host, port, False,
                 lambda bound: print(f"serving on http://{address(host, bound)}", flush=True))
    except ListenError as e:
        print(e, file=sys.stderr)
        return LISTEN_FAILED
    return 0


def _serve_several(settings: Settings, host: str, port: int, workers: int) -> int:
    ctx = multiprocessing.get_context("spawn")
    status = ctx.Queue()
    children = [ctx.Process(target=_child, args=(settings, host, port, status), daemon=False)
                for _ in range(workers)]
    stopping = False

    def stop(signum=None, frame=None) -> None:
        nonlocal stopping
        stopping = True
        # SIGTERM, not SIGINT: a serving child stops gracefully on either, but one still starting
        # (or already exiting) has no handler yet, and dies of SIGTERM quietly where SIGINT would
        # print a KeyboardInterrupt traceback.
        for child in children:
            if child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.start()
    failure = _until_all_listen(children, status, lambda: stopping)
    if failure is not None:
        # Serving on fewer processes than asked, or on none, is not what was asked: stop them all.
        print(failure, file=sys.stderr)
        stop()
    elif not stopping:
        print(f"serving on http://{address(host, port)} with {workers} processes", flush=True)
    for child in children:
        child.join()
    if failure is not None:
        return LISTEN_FAILED
    return 0 if stopping or all(child.exitcode == 0 for child in children) else 1


def _until_all_listen(children: list, status: multiprocessing.Queue, stopping: Callable[[], bool]) -> str | None:
    """None once every child listens (or a stop was asked for), else what went wrong."""
    waiting = {child.pid for child in children}
    while waiting and not stopping():
        try:
            kind, pid, detail = status.get(timeout=0.1)
        except queue.Empty:
            # A child that died before it could report: an exception at start-up, a kill. (Its
            # report, if it made one, was flushed before it exited: read what is left first.)
            dead = [child for child in children if child.pid in waiting and child.exitcode is not None]
            if not dead:
                continue
            try:
                kind, pid, detail = status.get(timeout=0.5)
            except queue.Empty:
                return (f"error: web process {dead[0].pid} exited with status {dead[0].exitcode} "
                        f"before listening (its output above says why)")
        if kind == "failed":
            return detail
        waiting.discard(pid)
    return None
