"""Cross-process cache invalidation over Redis pub/sub.

Every web process subscribes to one channel. Handlers get each message; when
the link drops, every cache is told to reset and stays untrusted until the
subscription is back, because messages sent meanwhile are lost (fail closed).
A link can also die silently (a NAT or load balancer dropping its state sends no
FIN or RST), so the bus holds a lease: it pings whenever the link has been quiet
for PING_INTERVAL_S, and once nothing at all (no message, no PONG) has arrived for
LEASE_S it stops trusting the caches and reconnects. A silently dead link thus
costs at most LEASE_S of trust; the pings cost Redis one PING a second per process.
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
PING_INTERVAL_S = 1.0
# Three intervals: one late PONG (a busy Redis, a GC pause) does not drop every cache.
LEASE_S = 3.0


class InvalidationBus:
    def __init__(self, *, redis: Redis, channel: str, ping_interval_s: float = PING_INTERVAL_S,
                 lease_s: float = LEASE_S) -> None:
        self.redis = redis
        self.channel = channel
        self.ping_interval_s = ping_interval_s
        self.lease_s = lease_s
        self._subscribed = False
        self._heard_at = 0.0  # time.monotonic() when the link last proved alive
        self._handlers: list[Callable[[str], None]] = []
        self._resets: list[Callable[[], None]] = []
        self._task: asyncio.Task | None = None
        self.connected = asyncio.Event()

    @property
    def trusted(self) -> bool:
        """Whether caches may serve: subscribed, and heard from within the lease. Read on
        every cache lookup, so a lapsed lease distrusts them before the reconnect begins."""
        return self._subscribed and time.monotonic() - self._heard_at < self.lease_s

    @trusted.setter
    def trusted(self, value: bool) -> None:
        self._subscribed = value

    def subscribe(self, on_message: Callable[[str], None], on_reset: Callable[[], None]) -> None:
        self._handlers.append(on_message)
        self._resets.append(on_reset)

    def _reset(self) -> None:
        self._subscribed = False
        for reset in self._resets:
            reset()

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
            self._heard_at = time.monotonic()  # a new link gets one lease to confirm its subscription
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=self.ping_interval_s)
                    now = time.monotonic()
                    # Checked before a message renews the lease: one that arrives after it
                    # lapsed does not restore trust, as messages before it may be lost.
                    if now - self._heard_at >= self.lease_s:
                        log.warning("invalidation link silent for %.1fs; caches disabled, reconnecting",
                                    now - self._heard_at)
                        break
                    if message is None:
                        # Silence is fine, but prove the link is alive: the PONG renews the lease.
                        await pubsub.ping()
                        continue
                    if message["type"] != "pong" or self._subscribed:
                        # A PONG renews only a subscribed link: one whose SUBSCRIBE went
                        # unanswered gets a lease to confirm it, then a fresh connection.
                        self._heard_at = now
                    if message["type"] == "subscribe":
                        # Anything cached before this point may have missed a message.
                        self._reset()
                        self._subscribed = True
                        self.connected.set()
                        delay = 0.05
                    elif message["type"] == "message":
                        data = message["data"]
                        text = data.decode() if isinstance(data, bytes) else data
                        for part in text.split(MESSAGE_SEPARATOR):
                            for handler in self._handlers:
                                handler(part)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as e:
                log.warning("invalidation link lost (%s); caches disabled until it is back", type(e).__name__)
            finally:
                self._reset()
                self.connected.clear()
                try:
                    await pubsub.aclose()
                except (RedisConnectionError, RedisTimeoutError, OSError):
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
