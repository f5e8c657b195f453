"""The audit writer, run by a real worker: every event type reaches audit_log once."""
from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from app.events.envelope import Event
from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.integration.authz.helpers import user
from app.taskqueue import OUTBOX_RELAY, STREAM_TRIM
from tests.integration.sessions.helpers import pg_dsn, pg_fetch
from tests.integration.workers.conftest import eventually
from tests.integration.workers.helpers import audit_caught_up, audit_rows, group_state, stream_envelopes
from tests.support.browser import STRONG_PASSWORD, Browser

DESIGN_TYPES = {
    "auth.user.registered", "auth.login.succeeded", "auth.login.failed", "auth.session.created",
    "auth.session.revoked", "auth.session.expired", "auth.logout", "auth.token.issued",
    "auth.token.refreshed", "auth.token.revoked", "auth.token.reuse_detected", "auth.user.forced_logout",
    "auth.password.changed", "auth.role.changed", "auth.mfa.enrolled",
}


async def _produce_every_type(client, settings) -> None:
    """Real flows through the web app where they exist; published envelopes for the rest."""
    services = client.server.app[SERVICES]
    admin, _ = await user(client, "admin")
    browser = Browser(client)
    email = await browser.signed_up()  # registered, login.succeeded, session.created
    me = (await (await browser.request("GET", "/auth/session")).json())["user"]["id"]
    assert (await Browser(client).login(email, "not the password at all")).status == 401  # login.failed
    other = Browser(client)
    await other.login(email)
    leaving = Browser(client)
    await leaving.login(email)
    assert (await leaving.request("POST", "/auth/logout")).status == 204  # logout
    handle = [s["handle"] for s in (await (await browser.request("GET", "/auth/sessions")).json())["sessions"]
              if not s["current"]][-1]
    assert (await browser.request("DELETE", f"/auth/sessions/{handle}")).status == 204  # session.revoked
    r = await browser.request("POST", "/auth/password", json={"current_password": STRONG_PASSWORD,
                                                             "new_password": STRONG_PASSWORD + " v2"})
    assert r.status == 204  # password.changed
    assert await services.accounts.grant_role_by_email(email, "auditor", ClientInfo(user_agent="cli"))  # role.changed
    assert (await admin.request("POST", f"/admin/users/{me}/logout")).status == 202  # user.forced_logout
    # Produced by the sweep (tests/integration/workers/test_sweeps.py runs the real one).
    await services.session_store.create(
        *(lambda s: (s, []))(await _expired_record(services, me)))
    await services.session_store.sweep_expired(10**10, 10)
    for t in ("auth.token.issued", "auth.token.refreshed", "auth.token.revoked", "auth.token.reuse_detected",
              "auth.mfa.enrolled"):
        await services.publisher.publish(Event(t, me, {"jti_handle": uuid.uuid4().hex[:8], "ip": "192.0.2.1"}))


async def _expired_record(services, user_id):
    from app.sessions.record import SessionRecord

    return SessionRecord(sid_hash=uuid.uuid4().hex * 2, user_id=user_id, email="x@example.com", roles=(),
                         created_at=1.0, last_seen_at=1.0, absolute_expires_at=2.0, idle_timeout_s=1,
                         auth_time=1.0, ip="", user_agent="")


async def test_every_event_type_reaches_audit_log(worker, serve, settings, redis, tasks, database_url):
    client = await serve(settings)
    await _produce_every_type(client, settings)
    await audit_caught_up(tasks, redis, settings)

    envelopes = await stream_envelopes(redis, settings.events.stream)
    rows = await audit_rows(database_url, [e["id"] for e in envelopes])
    assert DESIGN_TYPES <= {e["type"] for e in envelopes}
    assert set(rows) == {e["id"] for e in envelopes}  # nothing missing
    for e in envelopes:
        row = rows[e["id"]]
        assert (row["type"], row["subject"], row["source"], row["data"]) == (
            e["type"], e["subject"], e["source"], e["data"] or {})
        assert row["time"].isoformat().startswith(e["time"][:19])
    assert DESIGN_TYPES <= {r["type"] for r in rows.values()}


async def test_an_event_relayed_twice_is_stored_once(worker, settings, redis, tasks, database_url):
    event = Event("auth.login.succeeded", str(uuid.uuid4()), {"method": "password", "ip": "192.0.2.7"})
    encoded = event.to_json(settings.events.source)
    for _ in range(3):  # the outbox relay republishes after a crash between publish and delete
        await redis.xadd(settings.events.stream, {"event": encoded})
    await audit_caught_up(tasks, redis, settings)
    rows = await pg_fetch(database_url, "SELECT stream_id FROM audit_log WHERE event_id = $1", event.id)
    assert len(rows) == 1


async def test_unreadable_entries_are_dead_lettered_and_the_rest_written(worker, settings, redis, tasks,
                                                                        database_url):
    good = Event("auth.logout", str(uuid.uuid4()), {"handle": "h"})
    stream = settings.events.stream
    bad_ids = [await redis.xadd(stream, {"event": "{not json"}),
               await redis.xadd(stream, {"other": "field"}),
               await redis.xadd(stream, {"event": json.dumps({"id": "x", "type": "auth.a"})}),
               # Postgres refuses NUL in jsonb text: only this row may be set aside.
               await redis.xadd(stream, {"event": Event("auth.logout", "u", {"ua": "a\u0000b"}).to_json("s")})]
    await redis.xadd(stream, {"event": good.to_json(settings.events.source)})
    await audit_caught_up(tasks, redis, settings)
    assert await audit_rows(database_url, [good.id])
    dead = await redis.xrange(f"{stream}:dead")
    assert {f["stream_id"] for _, f in dead} >= set(bad_ids)
    assert all(f["reason"] for _, f in dead)
    assert (await group_state(redis, stream, settings.events.audit_group))["pending"] == 0


async def test_audit_log_refuses_update_and_delete(database_url):
    conn = await asyncpg.connect(pg_dsn(database_url))
    try:
        await conn.execute("INSERT INTO audit_log (event_id, stream_id, type, time, source, data) "
                           "VALUES ($1, '1-0', 'auth.logout', now(), 's', '{}')", f"immutable-{uuid.uuid4()}")
        for statement in ("UPDATE audit_log SET type = 'auth.forged'", "DELETE FROM audit_log"):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_outbox_rows_a_crashed_request_left_are_relayed(worker, settings, redis, tasks, database_url):
    """A committed outbox row whose web request died before relaying it reaches the stream."""
    event = Event("auth.password.changed", str(uuid.uuid4()), {"ip": "192.0.2.4"})
    fresh = Event("auth.password.changed", str(uuid.uuid4()), {"ip": "192.0.2.5"})
    conn = await asyncpg.connect(pg_dsn(database_url))
    try:
        await conn.execute("INSERT INTO event_outbox (id, envelope, created_at) VALUES "
                           "($1, $2, now() - interval '1 minute'), ($3, $4, now())",
                           uuid.UUID(event.id), event.to_json(settings.events.source),
                           uuid.UUID(fresh.id), fresh.to_json(settings.events.source))
        task_id = await tasks.send(OUTBOX_RELAY, {})

        async def relayed():
            return f"{task_id}] succeeded" in worker.log()
        await eventually(relayed)
        raw = [f.get("event", "") for _, f in await redis.xrange(settings.events.stream)]
        assert any(event.id in r for r in raw)
        # Younger than outbox_min_age_s: still the web request's to relay.
        assert not any(fresh.id in r for r in raw)
        left = {r["id"] for r in await conn.fetch("SELECT id FROM event_outbox")}
        assert uuid.UUID(event.id) not in left and uuid.UUID(fresh.id) in left
    finally:
        await conn.execute("DELETE FROM event_outbox WHERE id = $1", uuid.UUID(fresh.id))
        await conn.close()


async def test_trim_task_keeps_everything_the_audit_group_still_owes(worker, settings, redis, tasks):
    before = await redis.xlen(settings.events.stream)
    task_id = await tasks.send(STREAM_TRIM, {})

    async def done():
        return f"{task_id}] succeeded" in worker.log()
    await eventually(done)
    assert await redis.xlen(settings.events.stream) == before  # all within the 7-day retention
