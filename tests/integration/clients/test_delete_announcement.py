"""Deleting or rotating an API client holds on every process even when the call commits and
then fails (503): the change is announced before anything that may fail after the commit,
a retry that finds nothing left to change announces it again, and a process that finds a
remembered credential refused by Postgres forgets it."""
import asyncio

import pytest

from app.events.invalidation import TRUST_S
from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import user
from tests.integration.clients.test_admin_clients import _create, _eventually, _introspect, _two_apps
from tests.support.faults import failing_once

# Long enough, with no lookup meanwhile, for a process's proof that its link is current to
# go stale: its next lookup reads Postgres instead of its memory.
STALE_S = TRUST_S + 0.1


async def _remembered_on_both(a, b, cid, secret):
    for app_client in (a, b):
        assert (await _introspect(app_client, cid, secret)).status == 200


def _refused_on(app_client, cid, secret):
    async def check():
        return (await _introspect(app_client, cid, secret)).status == 401
    return check


async def _client_known_to_both(serve, make_settings):
    """Two processes, an admin on the first, and a client whose credential both have verified
    (and cached): (a, b, admin, client_id, secret)."""
    _, a, b = await _two_apps(serve, make_settings)
    admin, _ = await user(a, "admin")
    created = await _create(admin)
    cid, secret = created["client_id"], created["client_secret"]
    await _remembered_on_both(a, b, cid, secret)
    return a, b, admin, cid, secret


async def test_a_delete_whose_relay_failed_is_refused_on_every_process_and_its_retry_is_404(
        serve, make_settings, monkeypatch):
    a, b, admin, cid, secret = await _client_known_to_both(serve, make_settings)
    clients = a.server.app[SERVICES].clients
    monkeypatch.setattr(clients.relay, "relay", failing_once(clients.relay.relay))

    assert (await admin.request("DELETE", f"/admin/clients/{cid}")).status == 503  # committed, then failed
    await _eventually(_refused_on(b, cid, secret))
    again = await admin.request("DELETE", f"/admin/clients/{cid}")
    assert again.status == 404 and (await again.json())["code"] == "not_found"
    await asyncio.sleep(STALE_S)
    assert [(await _introspect(b, cid, secret)).status for _ in range(3)] == [401, 401, 401]


@pytest.mark.parametrize("retry", [("DELETE", ""), ("POST", "/secret")], ids=["delete", "rotate"])
async def test_a_404_after_a_delete_whose_announcement_failed_announces_it(serve, make_settings, monkeypatch,
                                                                           retry):
    """The first DELETE commits and cannot publish (503); the admin's retry, or a rotation
    attempt, finds no client (404) and must be the call that tells the other processes."""
    a, b, admin, cid, secret = await _client_known_to_both(serve, make_settings)
    clients = a.server.app[SERVICES].clients
    monkeypatch.setattr(clients.redis, "publish", failing_once(clients.redis.publish))

    assert (await admin.request("DELETE", f"/admin/clients/{cid}")).status == 503
    method, suffix = retry
    again = await admin.request(method, f"/admin/clients/{cid}{suffix}")
    assert again.status == 404 and (await again.json())["code"] == "not_found"
    await _eventually(_refused_on(b, cid, secret))


async def test_a_rotation_whose_relay_failed_refuses_the_old_secret_everywhere(serve, make_settings, monkeypatch):
    a, b, admin, cid, old = await _client_known_to_both(serve, make_settings)
    clients = a.server.app[SERVICES].clients
    monkeypatch.setattr(clients.relay, "relay", failing_once(clients.relay.relay))

    assert (await admin.request("POST", f"/admin/clients/{cid}/secret")).status == 503  # its secret is lost
    await _eventually(_refused_on(b, cid, old))
    r = await admin.request("POST", f"/admin/clients/{cid}/secret")
    assert r.status == 200
    new = (await r.json())["client_secret"]
    assert (await _introspect(b, cid, new)).status == 200
    assert (await _introspect(b, cid, old)).status == 401


async def test_a_rotation_whose_announcement_failed_is_announced_by_the_retry(serve, make_settings, monkeypatch):
    a, b, admin, cid, old = await _client_known_to_both(serve, make_settings)
    clients = a.server.app[SERVICES].clients
    monkeypatch.setattr(clients.redis, "publish", failing_once(clients.redis.publish))

    assert (await admin.request("POST", f"/admin/clients/{cid}/secret")).status == 503
    r = await admin.request("POST", f"/admin/clients/{cid}/secret")
    assert r.status == 200
    await _eventually(_refused_on(b, cid, old))
    assert (await _introspect(b, cid, (await r.json())["client_secret"])).status == 200


async def test_a_credential_postgres_refuses_is_forgotten_not_served_again(serve, make_settings):
    """An announcement that never arrived (the link was fine, the publisher's call was not):
    the first lookup that goes to Postgres finds the client gone, and the next lookups, with
    the link proven current again, must not fall back on the remembered credential."""
    a, b, admin, cid, secret = await _client_known_to_both(serve, make_settings)
    clients = a.server.app[SERVICES].clients
    async with clients.sessionmaker() as session, session.begin():
        assert await clients.repository.delete(session, cid)  # no announcement at all

    await asyncio.sleep(STALE_S)
    assert [(await _introspect(b, cid, secret)).status for _ in range(3)] == [401, 401, 401]
