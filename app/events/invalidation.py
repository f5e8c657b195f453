"""Cross-process cache invalidation over Redis pub/sub.

Every web process subscribes to one channel. Handlers get each message; when
the link drops, every cache is told to reset and stays untrusted until the
subscription is back, because messages sent meanwhile are lost (fail closed).
A message may carry several invalidations, one per line (MESSAGE_SEPARATOR): a
sweep that ends a hundred sessions wakes each process once, not a hundred times.
A process of an earlier version reads such a message as one unknown name, so only
messages whose loss is harmless are batched (see app.sessions.scripts.REVOKE).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("app.invalidation")
MESSAGE_SEPARATOR = "\n"


class InvalidationBus:
    def __init__(self, *, redis: Redis, channel: str) -> None:
        self.redis = redis
        self.channel = channel
        self.trusted = False
        self._handlers: list[Callable[[str], None]] = []
        self._resets: list[Callable[[], None]] = []
        self._task: asyncio.Task | None = None
        self.connected = asyncio.Event()

    def subscribe(self, on_message: Callable[[str], None], on_reset: Callable[[], None]) -> None:
        self._handlers.append(on_message)
        self._resets.append(on_reset)

    def _reset(self) -> None:
        self.trusted = False
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
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        # Silence is fine, but prove the link is alive.
                        await pubsub.ping()
                        continue
                    if message["type"] == "subscribe":
                        # Anything cached before this point may have missed a message.
                        self._reset()
                        self.trusted = True
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
