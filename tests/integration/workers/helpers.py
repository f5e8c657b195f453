"""Reading the audit trail and the stream's consumer groups."""
from __future__ import annotations

import json
import time

from app.taskqueue import AUDIT_DRAIN
from tests.integration.sessions.helpers import pg_fetch
from tests.integration.workers.conftest import eventually


async def group_state(redis, stream: str, group: str) -> dict | None:
    for g in await redis.xinfo_groups(stream):
        if g["name"] == group:
            return g
    return None


async def audit_caught_up(tasks, redis, settings, timeout: float = 15.0) -> None:
    """Ask the worker to drain (again every half second, as beat would), and wait until
    the audit group has been given every entry and has acknowledged each."""
    stream, group = settings.events.stream, settings.events.audit_group
    asked = [0.0]

    async def caught_up():
        g = await group_state(redis, stream, group)
        if g is not None and g["lag"] == 0 and g["pending"] == 0:
            return True
        if time.monotonic() - asked[0] > 0.5:
            asked[0] = time.monotonic()
            await tasks.send(AUDIT_DRAIN, {})
        return False

    await eventually(caught_up, timeout)


async def stream_envelopes(redis, stream: str) -> list[dict]:
    return [json.loads(f["event"]) for _, f in await redis.xrange(stream)]


async def audit_rows(database_url: str, event_ids: list[str]) -> dict[str, dict]:
    rows = await pg_fetch(database_url, "SELECT * FROM audit_log WHERE event_id = ANY($1::text[])", event_ids)
    return {r["event_id"]: {**dict(r), "data": json.loads(r["data"])} for r in rows}
