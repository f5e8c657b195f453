"""Invariant 1, "if a process loses its pub/sub link it stops trusting its cache", for a
link that dies or stalls silently: a NAT or load balancer dropping its state sends no
FIN or RST, so nothing errors. The caches serve only while a PONG has proven the link
current within 100 ms, so a revocation is still seen within 100 ms (from Redis), and a
link silent for the lease is replaced."""
import asyncio
import time
from urllib.parse import urlsplit

import pytest

from app.events.invalidation import TRUST_S, InvalidationBus
from app.http.appkeys import SERVICES
from app.services import make_redis
from tests.support.browser import Browser, rejected_within


class FreezableProxy:
    """Forwards to Redis; while ``frozen`` it swallows, both ways, the traffic of every
    connection that said SUBSCRIBE, closing nothing: a half-open pub/sub link."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname, parts.port or 6379)
        self.db = parts.path or "/0"
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task] = []
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"redis://{host}:{port}{self.db}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        for writer in self._writers:
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers += [writer, up_writer]
        pubsub = False

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, outbound: bool) -> None:
            nonlocal pubsub
            while data := await src.read(65536):
                pubsub = pubsub or (outbound and b"SUBSCRIBE" in data.upper())
                if self.frozen and pubsub:
                    continue
                dst.write(data)
                await dst.drain()

        self._tasks += [asyncio.create_task(pump(reader, up_writer, True)),
                        asyncio.create_task(pump(up_reader, writer, False))]


@pytest.fixture
async def proxy(settings):
    proxy = FreezableProxy(settings.redis.url)
    await proxy.start()
    yield proxy
    await proxy.close()


async def _until(condition, seconds: float) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not so after {seconds}s")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


async def test_the_lease_lapses_on_a_silent_link_and_the_bus_reconnects(make_settings, settings, proxy):
    redis = make_redis(make_settings(redis={"url": proxy.url}))
    bus = InvalidationBus(redis=redis, channel=f"{settings.redis.key_prefix}:invalidate",
                          idle_ping_s=0.1, lease_s=0.3)
    resets, received = [], []
    bus.subscribe(received.append, lambda: resets.append(time.monotonic()))
    await bus.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), 5)
        await asyncio.sleep(1.0)  # several leases of quiet: the idle PONGs keep the link
        assert len(resets) == 1
        # After a quiet spell the proof is stale; the first read asks for a fresh one.
        assert await _until(lambda: bus.trusted, 0.1) < 0.1

        proxy.frozen = True
        assert await _until(lambda: not bus.trusted, 2) <= TRUST_S + 0.02
        await _until(lambda: len(resets) == 2 and not bus.connected.is_set(), 1)
        await asyncio.sleep(1.0)  # reconnects meanwhile cannot confirm their subscription
        assert not bus.trusted and not bus.connected.is_set()

        proxy.frozen = False
        await asyncio.wait_for(bus.connected.wait(), 5)
        assert bus.trusted
        direct = make_redis(settings)
        await direct.publish(bus.channel, "s:after")
        await direct.aclose()
        await _until(lambda: received == ["s:after"], 1)
    finally:
        await bus.stop()
        await redis.aclose()
    assert not bus.trusted


async def test_a_logout_reaches_a_process_whose_link_went_silent(serve, make_settings, proxy):
    """No waiting for the link to be found dead: the logout is made on B the moment A's
    link freezes, and A must refuse the session within 100 ms all the same."""
    via_proxy = await serve(make_settings(redis={"url": proxy.url}))
    direct = await serve(make_settings())
    bus = via_proxy.server.app[SERVICES].bus
    await bus.connected.wait()
    on_a = Browser(via_proxy)
    await on_a.signed_up()
    for _ in range(3):
        assert (await on_a.request("GET", "/auth/session")).status == 200  # cached on A
    assert bus.trusted

    proxy.frozen = True
    on_b = Browser(direct)
    on_b.session_id, on_b.csrf = on_a.session_id, on_a.csrf
    assert (await on_b.request("POST", "/auth/logout")).status == 204
    assert await rejected_within(on_a, 0.1) < 0.1


async def test_a_process_whose_link_went_silent_still_answers_from_redis(serve, make_settings, proxy):
    via_proxy = await serve(make_settings(redis={"url": proxy.url}))
    bus = via_proxy.server.app[SERVICES].bus
    await bus.connected.wait()
    on_a = Browser(via_proxy)
    await on_a.signed_up()
    proxy.frozen = True
    await _until(lambda: not bus.trusted, 1)
    for _ in range(3):
        assert (await on_a.request("GET", "/auth/session")).status == 200
