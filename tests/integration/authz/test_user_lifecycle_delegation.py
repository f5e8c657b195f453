"""users:logout and users:disable without the admin role must not be a way to act on accounts
more powerful than their holder: a helpdesk role could otherwise disable every admin (and
enable one an admin had disabled because it was stolen). A delegate acts only on accounts
whose roles it holds itself, as it may only grant those (app.http.admin)."""
import asyncio

import pytest

from app.errors import UnauthenticatedError

from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import delegate, user
from tests.support.faults import first_call_held

FAST = {"password": {"time_cost": 1, "memory_kib": 1024}}


async def _helpdesk(client):
    admin, _ = await user(client, "admin")
    helpdesk, role = await delegate(client, admin, "helpdesk", ["users:logout", "users:disable"])
    return admin, helpdesk, role


async def test_a_delegate_cannot_disable_enable_or_log_out_an_admin(serve, make_settings):
    client = await serve(make_settings(**FAST))
    admin, helpdesk, _ = await _helpdesk(client)
    target, target_id = await user(client, "admin")
    for action in ("disable", "logout"):
        r = await helpdesk.request("POST", f"/admin/users/{target_id}/{action}")
        assert r.status == 403, (action, r.status, await r.text())
        assert (await r.json())["roles"] == ["admin"]
    assert (await target.request("GET", "/auth/session")).status == 200  # still signed in
    assert not (await client.server.app[SERVICES].accounts.active_user(target_id)).disabled
    # Disabled by an admin, it stays so: the delegate cannot enable it again.
    assert (await admin.request("POST", f"/admin/users/{target_id}/disable")).status == 202
    r = await helpdesk.request("POST", f"/admin/users/{target_id}/enable")
    assert r.status == 403, await r.text()
    with pytest.raises(UnauthenticatedError):  # still disabled
        await client.server.app[SERVICES].accounts.active_user(target_id)
    assert (await admin.request("POST", f"/admin/users/{target_id}/enable")).status == 204


async def test_a_delegate_acts_on_accounts_within_its_own_roles(serve, make_settings):
    client = await serve(make_settings(**FAST))
    admin, helpdesk, role = await _helpdesk(client)
    plain, plain_id = await user(client)
    peer, peer_id = await user(client, role)
    _, other_role = await delegate(client, admin, "billing", ["invoices:read"])
    _, billing_id = await user(client, other_role)
    assert (await helpdesk.request("POST", f"/admin/users/{plain_id}/logout")).status == 202
    assert (await helpdesk.request("POST", f"/admin/users/{peer_id}/disable")).status == 202
    assert (await helpdesk.request("POST", f"/admin/users/{peer_id}/enable")).status == 204
    r = await helpdesk.request("POST", f"/admin/users/{billing_id}/disable")
    assert r.status == 403 and (await r.json())["roles"] == [other_role]
    # An admin is bound by nothing of this.
    assert (await admin.request("POST", f"/admin/users/{billing_id}/disable")).status == 202


async def test_a_disable_racing_an_admin_grant_is_judged_on_the_roles_at_the_commit(serve, make_settings):
    """The delegate's disable was checked against the roles read first; an admin grants the
    target `admin` meanwhile. The disable must not land (nor log the new admin out first)."""
    client = await serve(make_settings(**FAST))
    admin, helpdesk, _ = await _helpdesk(client)
    target, target_id = await user(client)
    async with first_call_held(client.server.app[SERVICES].forced_logout, "_stored") as (entered, release):
        disabling = asyncio.create_task(helpdesk.request("POST", f"/admin/users/{target_id}/disable"))
        await entered.wait()
        granted = await admin.request("POST", f"/admin/users/{target_id}/roles", json={"role": "admin"})
        assert granted.status in (200, 201), await granted.text()
        release.set()
        r = await disabling
    assert r.status == 403, await r.text()
    assert not (await client.server.app[SERVICES].accounts.active_user(target_id)).disabled
    assert (await target.request("GET", "/auth/session")).status == 200
