"""A burst of invalidations (a mass forced logout, a sweep) must not hold a web process's
event loop for its whole length: requests get turns while it is handled."""
import asyncio

from app.events.invalidation import MESSAGE_SEPARATOR, InvalidationBus
from app.services import make_redis

BURST = 2000


async def test_requests_get_turns_while_a_burst_of_invalidations_is_handled(settings):
    redis = make_redis(settings)
    bus = InvalidationBus(redis=redis, channel=f"{settings.redis.key_prefix}:invalidate")
    timeline: list[str] = []
    bus.subscribe(lambda name: timeline.append("handled"), lambda: None)
    await bus.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), 5)
        publisher = make_redis(settings)
        # Half as batched messages, half as single ones: both arrive already buffered.
        batch = MESSAGE_SEPARATOR.join(f"s:batched-{i}" for i in range(BURST // 2))
        async with publisher.pipeline(transaction=False) as pipe:
            pipe.publish(bus.channel, batch)
            for i in range(BURST // 2):
                pipe.publish(bus.channel, f"s:single-{i}")
            await pipe.execute()
        await publisher.aclose()

        async def another_request() -> None:
            while timeline.count("handled") < BURST:
                timeline.append("request")
                await asyncio.sleep(0)

        await asyncio.wait_for(another_request(), 5)
    finally:
        await bus.stop()
        await redis.aclose()
    first, last = timeline.index("handled"), len(timeline) - 1 - timeline[::-1].index("handled")
    during = timeline[first:last]
    assert timeline.count("handled") == BURST
    # Every invalidation was handled, and other work ran between them many times over.
    assert during.count("request") >= BURST // 128, during.count("request")


async def test_a_message_no_handler_can_read_does_not_stop_the_listener(settings):
    """Anyone who can publish on the channel can send bytes that are not UTF-8, or that a
    handler fails on: the listener drops every cache for it (what the message meant is
    unknown) and goes on hearing invalidations, rather than dying and leaving the process
    without a working cache until it restarts."""
    redis = make_redis(settings)
    bus = InvalidationBus(redis=redis, channel=f"{settings.redis.key_prefix}:invalidate")
    handled, resets = [], []

    def handler(name: str) -> None:
        if name == "boom":
            raise ValueError("a handler that cannot read this")
        handled.append(name)

    bus.subscribe(handler, lambda: resets.append(1))
    await bus.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), 5)
        before = len(resets)
        publisher = make_redis(settings)
        await publisher.publish(bus.channel, b"\xff\xfe not utf-8")
        await publisher.publish(bus.channel, "boom")
        await publisher.publish(bus.channel, "s:after")
        await publisher.aclose()
        for _ in range(100):
            if "s:after" in handled:
                break
            await asyncio.sleep(0.02)
        assert "s:after" in handled and bus.connected.is_set()
        assert len(resets) >= before + 1  # the caches were dropped for what could not be read
    finally:
        await bus.stop()
        await redis.aclose()
