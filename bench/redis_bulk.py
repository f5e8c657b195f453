"""Many sessions at once through RedisSessionStore.create, Redis memory, the expiry sweep, cleanup."""
from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

from app.events.publisher import EventPublisher
from app.sessions.ids import hash_session_id, new_session_id
from app.sessions.record import SessionRecord
from app.sessions import scripts as session_scripts
from app.sessions.store import RedisSessionStore

# What a real browser session carries: a typical desktop user agent and an IPv4 address.
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")


def make_store(redis: Redis, prefix: str, touch_granularity_s: float = 60.0) -> RedisSessionStore:
    publisher = EventPublisher(redis=redis, stream=f"{prefix}:events", source="authbench")
    return RedisSessionStore(redis=redis, publisher=publisher, prefix=prefix,
                             touch_granularity_s=touch_granularity_s)


async def create_sessions(store: RedisSessionStore, n: int, *, per_user: int, idle_s: int, abs_s: int,
                          batch: int = 5000) -> None:
    """``n`` live sessions, ``per_user`` to a user (one index zset each), no events.

    Each goes through ``store.create``, whose one Lua call is queued into a shared
    pipeline instead of sent: the keys and values are exactly the store's, while
    5,000 creates cost one round trip."""
    sha = await store.redis.script_load(session_scripts.CREATE)
    pipe = store.redis.pipeline(transaction=False)
    send = store._create

    async def queue(*, keys: list, args: list) -> list[int]:
        pipe.evalsha(sha, len(keys), *keys, *args)
        return [0, 0]  # what the script answers when it writes (no epoch, no cap: none is passed)

    store._create = queue
    try:
        now = time.time()
        user = str(uuid.uuid4())
        for i in range(n):
            if i % per_user == 0:
                user = str(uuid.uuid4())
            sid_hash = hash_session_id(new_session_id())
            record = SessionRecord(
                sid_hash=sid_hash, user_id=user, email=f"user{i // per_user}@example.com", roles=(),
                created_at=now, last_seen_at=now, absolute_expires_at=now + abs_s, idle_timeout_s=idle_s,
                auth_time=now, ip=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", user_agent=USER_AGENT)
            await store.create(record, [])
            if (i + 1) % batch == 0:
                await pipe.execute()  # also resets the pipeline for the next batch
        await pipe.execute()
    finally:
        store._create = send


async def used_memory(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


async def breakdown(redis: Redis, store: RedisSessionStore, n: int, sample: int = 200) -> dict[str, float]:
    """Bytes per session by structure (MEMORY USAGE on a sample), to show where memory goes."""
    k = store.keys
    values, indexes = [], []
    async for key in redis.scan_iter(match=k.session_prefix + "*", count=1000):
        values.append(key)
        if len(values) >= sample:
            break
    async for key in redis.scan_iter(match=k.user_prefix + "*", count=1000):
        indexes.append(key)
        if len(indexes) >= sample:
            break
    per_value = sum([await redis.memory_usage(v) or 0 for v in values]) / max(1, len(values))
    index_sizes = [await redis.zcard(i) for i in indexes]
    per_index = sum([await redis.memory_usage(i) or 0 for i in indexes]) / max(1, sum(index_sizes))
    due = (await redis.memory_usage(k.due, samples=0) or 0) / max(1, n)
    encoding = (await redis.object("encoding", values[0])) if values else b"?"
    return {"session value": per_value, "user index share": per_index, "due-users zset share": due,
            "value encoding": encoding.decode() if isinstance(encoding, bytes) else str(encoding)}


async def sweep_all(store: RedisSessionStore, now: float, limit: int) -> tuple[int, float]:
    """Sweep until nothing is due; returns (sessions ended, seconds)."""
    ended_total = 0
    start = time.perf_counter()
    while True:
        seen, ended = await store.sweep_expired(now, limit)
        ended_total += ended
        if seen == 0:
            break
    return ended_total, time.perf_counter() - start


async def delete_prefix(redis: Redis, pattern: str) -> int:
    """UNLINK every key matching ``pattern`` (never FLUSHALL: others share this Redis)."""
    n = 0
    batch: list = []
    async for key in redis.scan_iter(match=pattern, count=10000):
        batch.append(key)
        if len(batch) >= 5000:
            n += await redis.unlink(*batch)
            batch.clear()
    if batch:
        n += await redis.unlink(*batch)
    return n
