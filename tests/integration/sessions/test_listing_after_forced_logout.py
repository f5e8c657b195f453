"""A forced logout ends the user's sessions at once (the revocation epoch), before the worker's
fan-out deletes them: from then on they are neither listed nor endable by the user, and the
fan-out still finds and reports each of them once."""
from app.accounts.forced_logout import Actor
from app.http.appkeys import SERVICES
from app.sessions.manager import ClientInfo
from tests.integration.sessions.helpers import events
from tests.support.browser import Browser
from tests.support.nojar import serve_without_cookie_jar

serve = serve_without_cookie_jar  # each request carries only the cookies the test chose


def _settings(make_settings):
    return make_settings(password={"time_cost": 1, "memory_kib": 1024}, cookie={"name": "sid", "secure": False})


async def _force_out(client, user_id: str) -> None:
    # No Celery worker runs here: the fan-out stays queued, as during a worker outage.
    try:
        await client.server.app[SERVICES].forced_logout.force(user_id, Actor("admin", ClientInfo()))
    except Exception:
        pass  # the queue may be unreachable: the epoch is set before the send


async def test_sessions_ended_by_a_forced_logout_are_not_listed_or_endable_before_the_worker_runs(
        serve, make_settings):
    client = await serve(_settings(make_settings))
    laptop = Browser(client, cookie_name="sid")
    email = await laptop.signed_up()
    phone = Browser(client, cookie_name="sid")
    assert (await phone.login(email)).status == 200
    user_id = (await (await laptop.request("GET", "/auth/session")).json())["user"]["id"]
    await _force_out(client, user_id)
    # (The old cookies are not presented again: a refused presentation deletes the session.)
    fresh = Browser(client, cookie_name="sid")
    assert (await fresh.login(email)).status == 200
    listed = (await (await fresh.request("GET", "/auth/sessions")).json())["sessions"]
    assert len(listed) == 1, f"the dead sessions are listed as live: {listed}"
    assert listed[0]["current"]


async def test_a_session_a_forced_logout_ended_cannot_be_ended_again_and_the_fan_out_reports_it_once(
        serve, make_settings, redis, settings):
    client = await serve(_settings(make_settings))
    services = client.server.app[SERVICES]
    laptop = Browser(client, cookie_name="sid")
    email = await laptop.signed_up()
    phone = Browser(client, cookie_name="sid")
    assert (await phone.login(email)).status == 200
    user_id = (await (await laptop.request("GET", "/auth/session")).json())["user"]["id"]
    handles = {s["handle"] for s in (await (await laptop.request("GET", "/auth/sessions")).json())["sessions"]}
    assert len(handles) == 2
    await _force_out(client, user_id)

    fresh = Browser(client, cookie_name="sid")
    assert (await fresh.login(email)).status == 200
    for handle in handles:
        reply = await fresh.request("DELETE", f"/auth/sessions/{handle}")
        assert reply.status == 404, await reply.text()
    revoked = [e for e in await events(redis, settings.events.stream)
               if e["type"] == "auth.session.revoked" and e["data"]["handle"] in handles]
    assert revoked == [], f"a session the epoch ended was ended again: {revoked}"

    # The worker's fan-out (run here in-process) still deletes and reports each one, once.
    epoch = await services.session_store.epoch_of(user_id)
    report = await services.forced_logout.fan_out(user_id, epoch, "admin")
    assert report.sessions_ended == 2
    revoked = [e for e in await events(redis, settings.events.stream)
               if e["type"] == "auth.session.revoked" and e["data"]["handle"] in handles]
    assert sorted(e["data"]["handle"] for e in revoked) == sorted(handles)
    assert all(e["data"]["reason"] == "admin" for e in revoked)
    listed = (await (await fresh.request("GET", "/auth/sessions")).json())["sessions"]
    assert [s["current"] for s in listed] == [True]
