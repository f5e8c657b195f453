"""POST /admin/users/{id}/logout and /disable: rejected everywhere before the reply,
cleaned up by the fan-out in a real worker."""
from __future__ import annotations

import asyncio
import json
import time
import uuid

from app.http.appkeys import SERVICES
from app.sessions.ids import hash_session_id
from app.taskqueue import FORCED_LOGOUT
from tests.integration.authz.helpers import user
from tests.integration.workers.conftest import eventually
from tests.support.browser import STRONG_PASSWORD, Browser


async def _envelopes(redis, stream: str) -> list[dict]:
    return [json.loads(f["event"]) for _, f in await redis.xrange(stream)]


def _on(client, browser: Browser) -> Browser:
    other = Browser(client)
    other.session_id, other.csrf = browser.session_id, browser.csrf
    return other


async def _victim(client, sessions: int) -> tuple[str, str, list[Browser]]:
    first = Browser(client)
    email = await first.signed_up()
    user_id = (await (await first.request("GET", "/auth/session")).json())["user"]["id"]
    browsers = [first]
    for _ in range(sessions - 1):
        b = Browser(client)
        assert (await b.login(email)).status == 200
        browsers.append(b)
    return email, user_id, browsers


async def _fanned_out(redis, services, user_id: str) -> bool:
    return await redis.zcard(services.session_store.keys.user_index(user_id)) == 0


async def test_forced_logout_is_rejected_on_two_processes_when_the_call_returns(worker, serve, settings, redis):
    a, b = await serve(settings), await serve(settings)
    await a.server.app[SERVICES].bus.connected.wait()
    await b.server.app[SERVICES].bus.connected.wait()
    admin, _ = await user(a, "admin")
    _, victim_id, [*browsers, untouched] = await _victim(a, sessions=4)
    on_b = [_on(b, br) for br in browsers]
    for br in browsers + on_b:  # warm both processes' session caches
        for _ in range(2):
            assert (await br.request("GET", "/auth/session")).status == 200

    session_ids = [br.session_id for br in browsers + [untouched]]  # the replies below clear the cookies
    r = await admin.request("POST", f"/admin/users/{victim_id}/logout")
    returned = time.perf_counter()
    assert r.status == 202
    task_id = (await r.json())["task_id"]
    assert str(uuid.UUID(task_id)) == task_id
    statuses = await asyncio.gather(*(br.request("GET", "/auth/session") for br in browsers + on_b))
    elapsed = time.perf_counter() - returned
    # First try, no polling: each request was sent as the call returned, so this holds
    # invariant 1 with no margin to spare, however long the loaded machine takes to reply.
    assert [s.status for s in statuses] == [401] * 6
    print(f"forced logout: 6 sessions on 2 processes rejected {elapsed * 1000:.1f} ms after the call returned")

    services = a.server.app[SERVICES]
    await eventually(lambda: _fanned_out(redis, services, victim_id))
    for session_id in session_ids:  # the state is gone, not just refused
        assert not await redis.exists(services.session_store.keys.session(hash_session_id(session_id)))
    mine = [e for e in await _envelopes(redis, settings.events.stream) if e["subject"] == victim_id]
    forced = [e for e in mine if e["type"] == "auth.user.forced_logout"]
    assert len(forced) == 1 and forced[0]["data"]["task_id"] == task_id
    assert forced[0]["data"]["reason"] == "admin"
    revoked = [e for e in mine if e["type"] == "auth.session.revoked"]
    # A web process that reads a revoked session ends it itself (and reports it); the
    # fan-out ends the rest. Either way each session is reported exactly once.
    assert len({e["data"]["handle"] for e in revoked}) == len(revoked) == 4
    by_fan_out = [e for e in revoked if e["data"].get("reason") == "admin"]
    assert untouched.session_id and hash_session_id(untouched.session_id)[:16] in {
        e["data"]["handle"] for e in by_fan_out}

    # The fan-out is idempotent: running it again ends and reports nothing more.
    await services.tasks.send(FORCED_LOGOUT, {"user_id": victim_id, "epoch": 0.0, "reason": "admin"})
    await asyncio.sleep(0.5)
    again = [e for e in await _envelopes(redis, settings.events.stream) if e["subject"] == victim_id]
    assert len(again) == len(mine)


async def test_a_session_started_after_the_forced_logout_survives_the_fan_out(serve, settings, redis):
    client = await serve(settings)
    admin, _ = await user(client, "admin")
    email, victim_id, [old] = await _victim(client, sessions=1)
    services = client.server.app[SERVICES]
    epoch = time.time()
    await services.sessions.revoke_everything_before(victim_id, epoch)
    fresh = Browser(client)
    assert (await fresh.login(email)).status == 200
    report = await services.forced_logout.fan_out(victim_id, epoch, "admin")  # in-process, same code
    assert report.sessions_ended == 1
    assert (await fresh.request("GET", "/auth/session")).status == 200
    assert (await old.request("GET", "/auth/session")).status == 401


async def test_unknown_or_malformed_user_is_a_404_problem_and_changes_nothing(worker, serve, settings, redis):
    client = await serve(settings)
    admin, _ = await user(client, "admin")
    before = await redis.xlen(settings.events.stream)
    for user_id in (str(uuid.uuid4()), "not-a-uuid", "%00", "1" * 200):
        for action in ("logout", "disable", "enable"):
            r = await admin.request("POST", f"/admin/users/{user_id}/{action}")
            assert r.status == 404, (user_id, action)
            assert r.content_type == "application/problem+json"
            assert (await r.json())["code"] == "not_found"
    assert await redis.xlen(settings.events.stream) == before


async def test_only_admins_may_force_a_logout(worker, serve, settings):
    client = await serve(settings)
    member, _ = await user(client)
    _, victim_id, [victim] = await _victim(client, sessions=1)
    for action in ("logout", "disable", "enable"):
        r = await member.request("POST", f"/admin/users/{victim_id}/{action}")
        assert r.status == 403 and (await r.json())["code"] == "forbidden"
        anonymous = await client.post(f"/admin/users/{victim_id}/{action}")
        assert anonymous.status == 401
    # A user cannot end their own account's sessions through the admin route either.
    r = await victim.request("POST", f"/admin/users/{victim_id}/logout")
    assert r.status == 403
    assert (await victim.request("GET", "/auth/session")).status == 200


async def test_disable_takes_the_same_path_and_blocks_login_until_enabled(worker, serve, settings, redis):
    client = await serve(settings)
    admin, _ = await user(client, "admin")
    email, victim_id, browsers = await _victim(client, sessions=2)
    r = await admin.request("POST", f"/admin/users/{victim_id}/disable")
    assert r.status == 202
    task_id = (await r.json())["task_id"]
    for br in browsers:
        assert (await br.request("GET", "/auth/session")).status == 401
    assert (await Browser(client).login(email)).status == 401
    await eventually(lambda: _fanned_out(redis, client.server.app[SERVICES], victim_id))
    mine = [e for e in await _envelopes(redis, settings.events.stream) if e["subject"] == victim_id]
    assert [e["data"]["reason"] for e in mine if e["type"] == "auth.user.forced_logout"] == ["disabled"]
    assert [e["data"]["task_id"] for e in mine if e["type"] == "auth.user.forced_logout"] == [task_id]
    assert "auth.user.disabled" in {e["type"] for e in mine}

    assert (await admin.request("POST", f"/admin/users/{victim_id}/enable")).status == 204
    assert (await Browser(client).login(email)).status == 200
    assert "auth.user.enabled" in {e["type"] for e in await _envelopes(redis, settings.events.stream)
                                   if e["subject"] == victim_id}


async def test_password_change_queues_the_same_fan_out(worker, serve, settings):
    client = await serve(settings)
    browser = Browser(client)
    await browser.signed_up()
    await asyncio.sleep(0.3)  # earlier tests' fan-outs have finished
    done = _fan_outs_done(worker)
    r = await browser.request("POST", "/auth/password", json={"current_password": STRONG_PASSWORD,
                                                             "new_password": STRONG_PASSWORD + " changed"})
    assert r.status == 204

    async def ran() -> bool:
        return _fan_outs_done(worker) == done + 1
    await eventually(ran)
    assert (await browser.request("GET", "/auth/session")).status == 200  # the new cookie survives


def _fan_outs_done(worker) -> int:
    return sum(1 for line in worker.log().splitlines()
               if f"{FORCED_LOGOUT}[" in line and "] succeeded" in line)


async def test_forced_logout_holds_even_when_the_queue_is_down(make_settings, serve, redis):
    # A broker nobody listens on: the epoch is set before the enqueue fails.
    settings = make_settings(broker={"url": "redis://127.0.0.1:1/0"})
    client = await serve(settings)
    admin, _ = await user(client, "admin")
    _, victim_id, [victim] = await _victim(client, sessions=1)
    r = await admin.request("POST", f"/admin/users/{victim_id}/logout")
    assert r.status == 503
    assert (await r.json())["code"] == "service_unavailable"
    assert (await victim.request("GET", "/auth/session")).status == 401


async def test_a_cross_site_forced_logout_is_refused_and_changes_nothing(serve, settings, redis):
    """An admin's browser tricked into posting (no CSRF token, foreign Origin) logs nobody out."""
    client = await serve(settings)
    admin, _ = await user(client, "admin")
    _, victim_id, [victim] = await _victim(client, sessions=1)
    forged = Browser(client)
    forged.session_id = admin.session_id  # the cookie rides along; the CSRF token does not
    before = await redis.xlen(settings.events.stream)
    for headers in ({}, {"Origin": "https://evil.example"}, {"X-CSRF-Token": "guess"}):
        r = await forged.request("POST", f"/admin/users/{victim_id}/logout", headers=headers)
        assert r.status == 403 and (await r.json())["code"] == "csrf_failed"
    assert (await victim.request("GET", "/auth/session")).status == 200
    assert await redis.xlen(settings.events.stream) == before
    assert not await redis.exists(client.server.app[SERVICES].session_store.keys.user_epoch(victim_id))


async def test_a_disable_that_fails_to_commit_still_records_the_logout_it_made(serve, settings, redis):
    """Disabling rejects the account's sessions before the commit (so a Redis failure after it
    cannot leave them alive); if the commit then fails, the user has been logged out all the
    same, and that state change has its event (invariant 4)."""
    from app.errors import ServiceUnavailableError

    client = await serve(settings)
    admin, _ = await user(client, "admin")
    _, victim_id, [victim] = await _victim(client, sessions=1)
    forced_logout = client.server.app[SERVICES].forced_logout

    real_set_disabled = forced_logout._set_disabled

    async def commit_fails(*args, before_commit=None, **kwargs):
        async def then_the_commit_fails():  # the logout made, then the transaction rolls back
            await before_commit()
            raise ServiceUnavailableError()

        return await real_set_disabled(*args, before_commit=then_the_commit_fails, **kwargs)

    forced_logout._set_disabled = commit_fails
    try:
        assert (await admin.request("POST", f"/admin/users/{victim_id}/disable")).status == 503
    finally:
        del forced_logout._set_disabled
    assert (await victim.request("GET", "/auth/session")).status == 401
    mine = [e for e in await _envelopes(redis, settings.events.stream) if e["subject"] == victim_id]
    assert [e["data"]["reason"] for e in mine if e["type"] == "auth.user.forced_logout"] == ["disabled"]
    assert "auth.user.disabled" not in {e["type"] for e in mine}
