"""clients:write without the admin role must not be a way to obtain a client more powerful
than its holder (README "Administering API clients"; admin_client_routes docstring)."""
import asyncio

from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import delegate, user
from tests.integration.tokens.helpers import basic
from tests.support.faults import first_call_held

FAST = {"password": {"time_cost": 1, "memory_kib": 1024}, "http": {"allow_insecure_basic": True}}


async def _manager_and_admin_client(client):
    admin, _ = await user(client, "admin")
    r = await admin.request("POST", "/admin/clients", json={"name": "ops robot", "roles": ["admin"]})
    assert r.status == 201, await r.text()
    powerful = await r.json()
    manager, _ = await delegate(client, admin, "client-manager", ["clients:read", "clients:write"])
    # The control: the manager itself is no admin.
    assert (await manager.request("GET", "/admin/roles")).status == 403
    return manager, powerful


async def test_a_client_manager_cannot_take_over_an_admin_client_by_rotating_its_secret(serve, make_settings):
    client = await serve(make_settings(**FAST))
    manager, powerful = await _manager_and_admin_client(client)
    r = await manager.request("POST", f"/admin/clients/{powerful['client_id']}/secret")
    if r.status == 200:
        stolen = (await r.json())["client_secret"]
        as_admin = await client.get("/admin/roles", headers=basic(powerful["client_id"], stolen))
        raise AssertionError(f"a clients:write holder without admin rotated an admin client's secret and got it; "
                             f"with it GET /admin/roles answers {as_admin.status}")
    assert r.status == 403


async def test_a_client_manager_cannot_strip_roles_it_does_not_hold(serve, make_settings):
    client = await serve(make_settings(**FAST))
    manager, powerful = await _manager_and_admin_client(client)
    r = await manager.request("PUT", f"/admin/clients/{powerful['client_id']}/roles", json={"roles": []})
    assert r.status == 403, (r.status, await r.text())


async def test_a_client_manager_cannot_delete_an_admin_client(serve, make_settings):
    client = await serve(make_settings(**FAST))
    manager, powerful = await _manager_and_admin_client(client)
    r = await manager.request("DELETE", f"/admin/clients/{powerful['client_id']}")
    assert r.status == 403, (r.status, await r.text())


async def test_a_secret_rotation_racing_an_admin_grant_does_not_hand_out_an_admin_secret(serve, make_settings):
    """The manager's rotation was checked against the client's roles as they were read; an
    admin grants the client `admin` while the new secret hashes. The rotation must be judged
    on the roles the client holds when it commits, or the manager walks off with an admin
    client's secret."""
    client = await serve(make_settings(**FAST))
    admin, _ = await user(client, "admin")
    manager, role = await delegate(client, admin, "client-manager", ["clients:read", "clients:write"])
    r = await manager.request("POST", "/admin/clients", json={"name": "small robot", "roles": [role]})
    assert r.status == 201, await r.text()
    small = await r.json()
    async with first_call_held(client.server.app[SERVICES].clients.hasher, "hash") as (entered, release):
        rotation = asyncio.create_task(manager.request("POST", f"/admin/clients/{small['client_id']}/secret"))
        await entered.wait()
        granted = await admin.request("PUT", f"/admin/clients/{small['client_id']}/roles",
                                      json={"roles": [role, "admin"]})
        assert granted.status == 200, await granted.text()
        release.set()
        r = await rotation
    assert r.status == 403, (r.status, await r.text())
    # The secret was not changed: the one the manager created the client with still works.
    still = await client.get("/admin/roles", headers=basic(small["client_id"], small["client_secret"]))
    assert still.status == 200
