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
