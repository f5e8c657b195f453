"""The audit drain, on a real worker: an entry it cannot store goes to the dead-letter
stream (README: "unreadable entries go to auth:events:dead") and the rest of the
trail keeps flowing. An entry that makes the batch raise something other than a
Postgres refusal would stay in the consumer's pending list, be read first by every
later drain, and halt the audit trail for good (and, since trimming never passes a
pending entry, grow the stream without bound)."""
from __future__ import annotations

import json
import uuid

import pytest

from app.events.envelope import Event
from tests.integration.workers.helpers import audit_caught_up, audit_rows


def _envelope(**overrides) -> str:
    env = json.loads(Event("auth.logout", str(uuid.uuid4()), {"handle": "h"}).to_json("authsvc"))
    env.update(overrides)
    return json.dumps(env)


POISON = {
    "not UTF-8": lambda: _envelope().encode()[:-2] + b"\xff\xfe\"}",
    "time outside Postgres' range once in UTC": lambda: _envelope(time="0001-01-01T00:00:00+01:00"),
    "lone surrogate in the id": lambda: _envelope(id="\\ud800" + uuid.uuid4().hex).replace("\\\\ud800", "\\ud800"),
}


@pytest.mark.parametrize("kind", list(POISON))
async def test_one_unstorable_entry_is_dead_lettered_not_a_halt(kind, worker, settings, redis, tasks, database_url):
    import redis.asyncio as aioredis

    from tests.conftest import REDIS_URL

    raw = aioredis.Redis.from_url(REDIS_URL)  # bytes in, bytes out
    try:
        stream = settings.events.stream
        bad_id = await raw.xadd(stream, {"event": POISON[kind]()})
        good = Event("auth.logout", str(uuid.uuid4()), {"handle": "h"})
        await redis.xadd(stream, {"event": good.to_json(settings.events.source)})
        await audit_caught_up(tasks, redis, settings, timeout=20)
        assert await audit_rows(database_url, [good.id]), "the event after the bad one never reached audit_log"
        dead = await redis.xrange(f"{stream}:dead")
        assert bad_id.decode() in {f["stream_id"] for _, f in dead}
    finally:
        # Unblock the module's drain for the next case.
        await raw.xack(settings.events.stream, settings.events.audit_group, bad_id)
        await raw.xdel(settings.events.stream, bad_id)
        await raw.aclose()
