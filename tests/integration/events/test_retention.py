"""Stream trimming never removes what the audit group has not acknowledged."""
from __future__ import annotations

import time

from app.events.retention import StreamRetention, parse_id
from app.services import make_redis

NODE = 100  # Redis' stream-node-max-entries: approximate trimming drops whole nodes


async def _retention(settings, redis_bytes, retention_s: float = 60.0) -> StreamRetention:
    return StreamRetention(redis=redis_bytes, stream=settings.events.stream,
                           audit_group=settings.events.audit_group, retention_s=retention_s,
                           consumer_idle_s=0)


async def _fill(redis, stream: str, n: int) -> list[str]:
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(n):
            pipe.xadd(stream, {"event": f'{{"n": {i}}}'})
        return await pipe.execute()


async def test_trim_keeps_pending_and_undelivered_entries(make_settings, redis):
    settings = make_settings()
    stream, group = settings.events.stream, settings.events.audit_group
    client = make_redis(settings)
    try:
        retention = await _retention(settings, client)
        ids = await _fill(redis, stream, 10 * NODE)
        later = time.time() + 3600  # every entry is past the retention
        # No audit group yet: the audit writer has seen nothing, so nothing goes.
        assert (await retention.trim(later)).trimmed == 0

        await redis.xgroup_create(stream, group, id="0")
        delivered = await redis.xreadgroup(group, "c1", {stream: ">"}, count=6 * NODE)
        delivered_ids = [i for i, _ in delivered[0][1]]
        await redis.xack(stream, group, *delivered_ids[: 3 * NODE + 50])  # the rest stays pending
        report = await retention.trim(later)
        assert report.min_id == delivered_ids[3 * NODE + 50]
        remaining = [i for i, _ in await redis.xrange(stream)]
        assert report.trimmed >= 3 * NODE  # whole nodes before the first pending entry went
        # The first pending one is kept (ids compare as numbers: "...-91" comes before "...-141").
        assert parse_id(remaining[0]) <= parse_id(delivered_ids[3 * NODE + 50])
        assert remaining[-1] == ids[-1]

        # Everything acknowledged: only the undelivered tail must stay.
        await redis.xack(stream, group, *delivered_ids)
        report = await retention.trim(later)
        remaining = [i for i, _ in await redis.xrange(stream)]
        assert ids[6 * NODE] in remaining and remaining[-1] == ids[-1]

        # Within the retention nothing goes, acknowledged or not.
        await redis.xreadgroup(group, "c1", {stream: ">"})
        left = await redis.xlen(stream)
        await redis.xack(stream, group, *[i for i, _ in await redis.xrange(stream)])
        assert (await (await _retention(settings, client, retention_s=3600)).trim(time.time())).trimmed == 0
        assert await redis.xlen(stream) == left
    finally:
        await client.aclose()


async def test_consumers_holding_entries_are_never_pruned(make_settings, redis):
    settings = make_settings()
    stream, group = settings.events.stream, settings.events.audit_group
    client = make_redis(settings)
    try:
        await _fill(redis, stream, 3)
        await redis.xgroup_create(stream, group, id="0")
        await redis.xreadgroup(group, "holder", {stream: ">"}, count=1)
        await redis.xreadgroup(group, "done", {stream: ">"}, count=1)
        await redis.xack(stream, group, (await redis.xpending_range(stream, group, "-", "+", 10, "done"))[0]
                         ["message_id"])
        assert await (await _retention(settings, client)).prune_consumers() == 1
        names = {c["name"] for c in await redis.xinfo_consumers(stream, group)}
        assert names == {"holder"}
    finally:
        await client.aclose()
