"""Every /admin/ route in the router (ours and other features') refuses anonymous
callers with 401 and authenticated non-admins with 403, before touching the handler."""
import re
import uuid

from tests.integration.authz.helpers import user


def _admin_routes(app):
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/admin/") and route.method not in ("HEAD", "*", "OPTIONS"):
            yield route.method, re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


async def test_every_admin_route_is_guarded(client):
    routes = list(_admin_routes(client.server.app))
    assert len(routes) >= 12, routes
    member, _ = await user(client, "plain-member")
    for method, path in routes:
        anonymous = await client.request(method, path, json={})
        assert anonymous.status == 401, (method, path)
        assert anonymous.content_type == "application/problem+json"
        denied = await member.request(method, path, json={})
        assert denied.status == 403, (method, path)
        assert (await denied.json())["code"] == "forbidden", (method, path)


async def test_unguarded_admin_route_is_refused(serve, settings):
    from aiohttp import web

    from app.server import create_app

    app = create_app(settings)

    async def open_door(request):
        return web.json_response({"oops": True})

    app.router.add_get("/admin/forgotten", open_door)
    from aiohttp.test_utils import TestClient, TestServer

    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        admin, _ = await user(client, "admin")
        r = await admin.request("GET", "/admin/forgotten")
        assert r.status == 403
    finally:
        await client.close()


async def test_inherited_admin_role_passes_role_guards(client):
    from app.authz.guards import require_roles

    admin, _ = await user(client, "admin")
    ops = f"ops-{uuid.uuid4().hex[:6]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": ops, "parents": ["admin"]})).status == 201
    operator, _ = await user(client, ops)
    assert (await operator.request("GET", "/admin/policies")).status == 200
    assert callable(require_roles("admin"))


async def test_user_lifecycle_routes_are_in_the_guarded_table(client):
    """Forced logout, disable and enable (issue 3) are admin routes like the others, each
    naming its permission; a holder of that permission alone may use it."""
    from app.authz.guards import GUARD_ATTR

    table = {}
    for route in client.server.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        table[(route.method, path)] = getattr(route.handler, GUARD_ATTR, None)
    for action, permission in (("logout", "users:logout"), ("disable", "users:disable"),
                               ("enable", "users:disable")):
        guard = table[("POST", f"/admin/users/{{id}}/{action}")]
        assert guard is not None and guard.permission == permission
    admin, _ = await user(client, "admin")
    operator_role = f"helpdesk-{uuid.uuid4().hex[:6]}"
    r = await admin.request("POST", "/admin/roles", json={"name": operator_role, "permissions": ["users:logout"]})
    assert r.status == 201
    helpdesk, _ = await user(client, operator_role)
    _, victim_id = await user(client)
    assert (await helpdesk.request("POST", f"/admin/users/{victim_id}/disable")).status == 403
    # users:logout lets the helpdesk force a logout (queued; no worker runs in this test).
    assert (await helpdesk.request("POST", f"/admin/users/{victim_id}/logout")).status == 202


async def test_api_client_routes_are_in_the_guarded_table(client):
    """/admin/clients (issue 4's admin side) names clients:read or clients:write on every route,
    and each refuses anonymous callers (401) and plain members (403) before its handler runs."""
    from app.authz.guards import GUARD_ATTR

    expected = {("GET", "/admin/clients"): "clients:read",
                ("POST", "/admin/clients"): "clients:write",
                ("GET", "/admin/clients/{client_id}"): "clients:read",
                ("POST", "/admin/clients/{client_id}/secret"): "clients:write",
                ("PUT", "/admin/clients/{client_id}/roles"): "clients:write",
                ("DELETE", "/admin/clients/{client_id}"): "clients:write"}
    table = {}
    for route in client.server.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/admin/clients") and route.method != "HEAD":
            table[(route.method, path)] = getattr(route.handler, GUARD_ATTR, None)
    assert set(table) == set(expected)
    for key, permission in expected.items():
        assert table[key] is not None and table[key].permission == permission, key
    member, _ = await user(client, "plain-member")
    for method, path in expected:
        concrete = path.replace("{client_id}", "cl_" + "A" * 22)
        assert (await client.request(method, concrete, json={})).status == 401, (method, path)
        denied = await member.request(method, concrete, json={})
        assert denied.status == 403 and (await denied.json())["code"] == "forbidden", (method, path)
