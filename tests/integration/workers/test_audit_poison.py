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


async def test_an_oversized_subject_is_dead_lettered_and_the_trail_keeps_flowing(worker, settings, redis, tasks,
                                                                                  database_url):
    """A subject over the btree row limit of the (subject, time) index (about 2.7 KB when
    incompressible) made Postgres answer SQLSTATE 54000, which the drain took for an outage:
    the entry stayed pending, every later drain read it first, and nothing after it was stored."""
    import secrets

    stream = settings.events.stream
    bad = Event("auth.logout", str(uuid.uuid4()), {"handle": "h"})
    envelope = json.loads(bad.to_json(settings.events.source))
    envelope["subject"] = secrets.token_hex(3000)  # 6000 incompressible characters
    bad_id = await redis.xadd(stream, {"event": json.dumps(envelope)})
    try:
        good = Event("auth.logout", str(uuid.uuid4()), {"handle": "h"})
        await redis.xadd(stream, {"event": good.to_json(settings.events.source)})
        await audit_caught_up(tasks, redis, settings, timeout=20)
        assert await audit_rows(database_url, [good.id]), "the event after the bad one never reached audit_log"
        assert not await audit_rows(database_url, [bad.id])
        dead = {f["stream_id"]: f for _, f in await redis.xrange(f"{stream}:dead")}
        assert bad_id in dead
        assert "subject" in dead[bad_id]["reason"]
        assert json.loads(dead[bad_id]["raw"])["id"] == bad.id  # kept verbatim for a human
    finally:
        # Unblock the module's drain for the next test if this one failed.
        await redis.xack(stream, settings.events.audit_group, bad_id)
        await redis.xdel(stream, bad_id)


async def _solo_drain(settings, database_url, stream: str, **kw):
    """An AuditDrain in this process on a stream of its own (the module's worker never reads it)."""
    import redis.asyncio as aioredis

    from app.audit.drain import AuditDrain
    from app.db.engine import make_engine, make_sessionmaker
    from tests.conftest import REDIS_URL

    client = aioredis.Redis.from_url(REDIS_URL)
    engine = make_engine(kw.pop("url", database_url), pool_size=1, connect_timeout_s=1.0)
    drain = AuditDrain(redis=client, sessionmaker=make_sessionmaker(engine), stream=stream,
                       group=settings.events.audit_group, consumer="solo", **kw)
    return drain, client, engine


def _uncapped_audit_row(stream_id, fields):
    """audit_row without its subject cap: the row reaches Postgres, which refuses it (54000)."""
    from app.audit import records

    raw = records.text(records._field(fields))
    envelope = json.loads(raw)
    subject = envelope.pop("subject")
    row = records.audit_row(stream_id, {"event": json.dumps(envelope)})
    return {**row, "subject": subject} if isinstance(row, dict) else row


async def test_a_row_postgres_refuses_for_a_limit_is_dead_lettered_by_the_fallback(settings, database_url,
                                                                                  monkeypatch):
    """Not only classes 22 and 23: a row over a Postgres limit (here SQLSTATE 54000, an index
    row too large) is dead-lettered by the row-by-row fallback and the rest of its batch stored."""
    import secrets

    from app.audit import drain as drain_module

    monkeypatch.setattr(drain_module, "audit_row", _uncapped_audit_row)
    stream = f"{settings.events.stream}:solo-{uuid.uuid4().hex[:6]}"
    drain, client, engine = await _solo_drain(settings, database_url, stream)
    try:
        before = Event("auth.logout", str(uuid.uuid4()), {"handle": "h"})
        bad = Event("auth.logout", secrets.token_hex(3000), {"handle": "h"})
        after = Event("auth.logout", str(uuid.uuid4()), {"handle": "h"})
        ids = [(await client.xadd(stream, {"event": e.to_json("authsvc")})).decode() for e in (before, bad, after)]
        await drain.ensure_group()
        report = await drain.drain(5.0)
        assert (report.read, report.inserted, report.dead_lettered) == (3, 2, 1)
        assert set(await audit_rows(database_url, [before.id, bad.id, after.id])) == {before.id, after.id}
        dead = [f for _, f in await client.xrange(f"{stream}:dead")]
        assert [f[b"stream_id"].decode() for f in dead] == [ids[1]]
        assert b"refused by Postgres" in dead[0][b"reason"]
        assert (await client.xpending(stream, settings.events.audit_group))["pending"] == 0
    finally:
        await client.delete(stream, f"{stream}:dead")
        await client.aclose()
        await engine.dispose()


async def test_an_outage_still_fails_the_batch_and_leaves_it_pending(settings, database_url):
    """What is not the row's fault (Postgres unreachable) must not be dead-lettered: the batch
    fails, stays pending, and the task is retried."""
    stream = f"{settings.events.stream}:solo-{uuid.uuid4().hex[:6]}"
    drain, client, engine = await _solo_drain(settings, database_url, stream,
                                              url="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        await client.xadd(stream, {"event": Event("auth.logout", "u", {"handle": "h"}).to_json("authsvc")})
        await drain.ensure_group()
        with pytest.raises(Exception) as caught:
            await drain.drain(5.0)
        from app.outage import is_store_outage

        assert is_store_outage(caught.value)
        assert (await client.xpending(stream, settings.events.audit_group))["pending"] == 1
        assert not await client.exists(f"{stream}:dead")
    finally:
        await client.delete(stream, f"{stream}:dead")
        await client.aclose()
        await engine.dispose()
