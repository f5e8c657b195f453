"""Cross-process cache invalidation over Redis pub/sub.

Every web process subscribes to one channel. Handlers get each message; when
the link drops, every cache is told to reset and stays untrusted until the
subscription is back, because messages sent meanwhile are lost (fail closed).

A link can also die or stall silently (a NAT or load balancer dropping its state
sends no FIN or RST), and then nothing errors. So the caches serve only while the
link is proven current. Each PING carries the time it was sent, and Redis answers
it on the same connection after every message published before the PING reached
it: a PONG proves that every revocation published before its PING was sent has
been handled here. Caches serve only while the newest such proof is younger than
TRUST_S, so a revocation whose call returned at R is handled, or the caches are
bypassed, by R + TRUST_S, however the link fails. Invariant 1 gives 100 ms from R to a
refused request; TRUST_S is 90 ms, leaving the rest to the request that is refused. A late PONG (a
busy loop, a GC pause) only sends lookups to Redis until the next one.

The proofs are made on demand: while caches are being read, a PING goes out every
PING_INTERVAL_S; an idle process pings once every IDLE_PING_S, and after LEASE_S
with nothing heard at all the link is presumed dead and replaced. The first lookup
after a quiet spell finds the proof stale, reads Redis, and asks for a PING.

A message may carry several invalidations, one per line (MESSAGE_SEPARATOR): a
sweep that ends a hundred sessions wakes each process once, not a hundred times.
A process of an earlier version reads such a message as one unknown name, so only
messages whose loss is harmless are batched (see app.sessions.scripts.REVOKE).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("app.invalidation")
MESSAGE_SEPARATOR = "\n"
PING_INTERVAL_S = 0.025
# Over three intervals: a PONG a little late (a busy loop) leaves the caches serving.
TRUST_S = 0.09
IDLE_PING_S = 1.0
# Three idle pings: one late PONG (a busy Redis) does not replace the link.
LEASE_S = 3.0
# Messages already buffered are read without suspending, so a burst of thousands (a mass
# forced logout) would hold the loop for their whole length: requests get a turn between
# batches of this many invalidations.
YIELD_EVERY = 64


class InvalidationBus:
    def __init__(self, *, redis: Redis, channel: str, ping_interval_s: float = PING_INTERVAL_S,
                 trust_s: float = TRUST_S, idle_ping_s: float = IDLE_PING_S, lease_s: float = LEASE_S) -> None:
        self.redis = redis
        self.channel = channel
        self.ping_interval_s = ping_interval_s
        self.trust_s = trust_s
        self.idle_ping_s = idle_ping_s
        self.lease_s = lease_s
        self._subscribed = False
        self._heard_at = 0.0  # time.monotonic() when anything last arrived on the link
        # time.monotonic() before which every published message has been handled here
        self._current_at = 0.0
        self._wanted = asyncio.Event()  # a cache was read: keep the proof fresh
        self._handlers: list[Callable[[str], None]] = []
        self._resets: list[Callable[[], None]] = []
        self._task: asyncio.Task | None = None
        self.connected = asyncio.Event()

    @property
    def trusted(self) -> bool:
        """Whether caches may serve: subscribed, and proven current within TRUST_S. Read on
        every cache lookup, which also asks for the next proof."""
        if not self._wanted.is_set():
            self._wanted.set()
        return self._subscribed and time.monotonic() - self._current_at < self.trust_s

    @trusted.setter
    def trusted(self, value: bool) -> None:
        self._subscribed = value

    def subscribe(self, on_message: Callable[[str], None], on_reset: Callable[[], None]) -> None:
        self._handlers.append(on_message)
        self._resets.append(on_reset)

    def _reset(self) -> None:
        self._subscribed = False
        self._drop_caches()

    def _drop_caches(self) -> None:
        for reset in self._resets:
            reset()

    def _text(self, data: bytes | str) -> str:
        """A message's text; one that is not UTF-8 (anyone who can publish on the channel can
        send one) means nothing we can read: every cache is dropped, and it reads as empty."""
        if not isinstance(data, bytes):
            return data
        try:
            return data.decode()
        except UnicodeDecodeError:
            log.warning("invalidation message not UTF-8; caches dropped")
            self._drop_caches()
            return ""

    def _handle(self, part: str) -> None:
        """One invalidation to every handler. One a handler fails on drops every cache (what it
        meant is unknown) and the listener goes on: dying, it would leave the process with no
        trusted cache until restart."""
        for handler in self._handlers:
            try:
                handler(part)
            except Exception:  # noqa: BLE001 - whatever a handler fails on, the caches go
                log.warning("invalidation message %r not understood; caches dropped", part[:80], exc_info=True)
                self._drop_caches()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="invalidation-bus")

    async def stop(self) -> None:
        if self._task:
            # A cancel that lands as redis-py's read timeout fires can be swallowed
            # (the timeout wins and the retry reads again), so cancel until it ends.
            for _ in range(50):
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=0.1)
                if self._task.done():
                    break
            if self._task.done() and not self._task.cancelled():
                self._task.exception()  # retrieved, so asyncio does not log it
        self._reset()

    async def _run(self) -> None:
        delay = 0.05
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=False)
            pinger: asyncio.Task | None = None
            # Everything published before the SUBSCRIBE reaches Redis is covered by the
            # reset when it is confirmed; everything after, by the subscription.
            subscribing_at = self._heard_at = time.monotonic()
            handled = 0
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=self.idle_ping_s)
                    now = time.monotonic()
                    if now - self._heard_at >= self.lease_s:
                        log.warning("invalidation link silent for %.1fs; caches disabled, reconnecting",
                                    now - self._heard_at)
                        break
                    if message is None:
                        await _ping(pubsub)  # quiet: prove the link is alive
                        continue
                    kind = message["type"]
                    if kind != "pong" or self._subscribed:
                        # A PONG renews only a subscribed link: one whose SUBSCRIBE went
                        # unanswered gets a lease to confirm it, then a fresh connection.
                        self._heard_at = now
                    if kind == "pong":
                        sent_at = _ping_time(message["data"])
                        if self._subscribed and sent_at is not None:
                            self._current_at = max(self._current_at, sent_at)
                    elif kind == "subscribe":
                        # Anything cached before this point may have missed a message.
                        self._reset()
                        self._current_at = subscribing_at
                        self._subscribed = True
                        self.connected.set()
                        pinger = pinger or asyncio.create_task(self._ping_on_demand(pubsub))
                        delay = 0.05
                    elif kind == "message":
                        for part in self._text(message["data"]).split(MESSAGE_SEPARATOR):
                            self._handle(part)
                            handled += 1
                            if handled % YIELD_EVERY == 0:
                                await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as e:
                log.warning("invalidation link lost (%s); caches disabled until it is back", type(e).__name__)
            finally:
                if pinger is not None:
                    pinger.cancel()
                self._reset()
                self.connected.clear()
                try:
                    await pubsub.aclose()
                except (RedisConnectionError, RedisTimeoutError, OSError):
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _ping_on_demand(self, pubsub) -> None:
        """While caches are read, a PING every PING_INTERVAL_S; none while they are not.
        A failed send is the reader's to notice (the link errors or falls silent)."""
        try:
            while True:
                await self._wanted.wait()
                self._wanted.clear()
                await _ping(pubsub)
                await asyncio.sleep(self.ping_interval_s)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            pass


async def _ping(pubsub) -> None:
    await pubsub.ping(repr(time.monotonic()))


def _ping_time(data: bytes | str) -> float | None:
    """The send time a PONG echoes (None for a PONG of someone else's PING)."""
    try:
        return float(data)
    except (TypeError, ValueError):
        return None
