"""/admin/clients: the admin API for API clients (service accounts).

Secrets are shown once and never listed; rotation, role changes and deletion hold on
every web process at the client's next request; bad input is a 4xx; events carry no
secret; a non-admin cannot mint a client more powerful than itself."""
import asyncio
import json
import uuid

from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import user
from tests.integration.tokens.helpers import basic
from tests.support.faults import failing_once

FAST = {"password": {"time_cost": 1, "memory_kib": 1024}, "http": {"allow_insecure_basic": True}}


def _role_name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


async def _two_apps(serve, make_settings):
    settings = make_settings(**FAST)
    a, b = await serve(settings), await serve(settings)
    for app_client in (a, b):
        await app_client.server.app[SERVICES].bus.connected.wait()
    return settings, a, b


async def _introspect(app_client, client_id, secret):
    return await app_client.post("/auth/introspect", json={"token": "x"}, headers=basic(client_id, secret))


async def _eventually(check, attempts=100):
    """Pub/sub delivery to the other process takes a moment; poll briefly, fail if it never holds."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the change never reached the other process")


async def _events(redis, settings):
    return [json.loads(f["event"]) for _, f in await redis.xrange(settings.events.stream)]


async def _create(admin, name="billing", roles=()):
    r = await admin.request("POST", "/admin/clients", json={"name": name, "roles": list(roles)})
    assert r.status == 201, await r.text()
    return await r.json()


async def test_create_then_authenticate_list_and_get_without_secrets(serve, make_settings):
    client = await serve(make_settings(**FAST))
    admin, _ = await user(client, "admin")
    role = _role_name("introspector")
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    created = await _create(admin, "  billing api  ", [role, role])
    assert created["client_id"].startswith("cl_") and created["name"] == "billing api"
    assert created["roles"] == [role] and len(created["client_secret"]) >= 43
    assert (await _introspect(client, created["client_id"], created["client_secret"])).status == 200
    assert (await _introspect(client, created["client_id"], created["client_secret"] + "x")).status == 401

    listing = await admin.request("GET", "/admin/clients")
    assert listing.status == 200
    text = await listing.text()
    assert created["client_secret"] not in text and "secret_hash" not in text and "argon2" not in text
    entry = next(c for c in (await listing.json())["clients"] if c["client_id"] == created["client_id"])
    assert entry["name"] == "billing api" and entry["roles"] == [role] and entry["disabled"] is False
    assert entry["created_at"].endswith("Z") and "client_secret" not in entry

    one = await admin.request("GET", f"/admin/clients/{created['client_id']}")
    assert one.status == 200 and await one.json() == entry
    assert created["client_secret"] not in await one.text()


async def test_rotation_refuses_the_old_secret_on_every_process(serve, make_settings):
    _, a, b = await _two_apps(serve, make_settings)
    admin, _ = await user(a, "admin")
    created = await _create(admin)
    cid, old = created["client_id"], created["client_secret"]
    for app_client in (a, b):  # both processes now remember the verified credential
        assert (await _introspect(app_client, cid, old)).status == 200
    r = await admin.request("POST", f"/admin/clients/{cid}/secret")
    assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
    reply = await r.json()
    assert reply["client_id"] == cid and reply["client_secret"] != old
    assert (await _introspect(a, cid, old)).status == 401  # the writing process: at once

    async def old_refused_on_b():
        return (await _introspect(b, cid, old)).status == 401

    await _eventually(old_refused_on_b)
    for app_client in (a, b):
        assert (await _introspect(app_client, cid, reply["client_secret"])).status == 200
    after = await (await admin.request("GET", f"/admin/clients/{cid}")).json()
    assert after["secret_rotated_at"] >= after["created_at"]


async def test_delete_refuses_the_credential_on_every_process(serve, make_settings):
    _, a, b = await _two_apps(serve, make_settings)
    admin, _ = await user(a, "admin")
    created = await _create(admin)
    cid, secret = created["client_id"], created["client_secret"]
    for app_client in (a, b):
        assert (await _introspect(app_client, cid, secret)).status == 200
    assert (await admin.request("DELETE", f"/admin/clients/{cid}")).status == 204
    assert (await _introspect(a, cid, secret)).status == 401

    async def refused_on_b():
        return (await _introspect(b, cid, secret)).status == 401

    await _eventually(refused_on_b)
    assert (await admin.request("GET", f"/admin/clients/{cid}")).status == 404
    again = await admin.request("DELETE", f"/admin/clients/{cid}")
    assert again.status == 404 and (await again.json())["code"] == "not_found"
    listing = await (await admin.request("GET", "/admin/clients")).json()
    assert cid not in [c["client_id"] for c in listing["clients"]]


async def test_role_change_holds_at_the_next_request_on_every_process(serve, make_settings):
    _, a, b = await _two_apps(serve, make_settings)
    admin, _ = await user(a, "admin")
    reader = _role_name("role-reader")
    r = await admin.request("POST", "/admin/roles", json={"name": reader, "permissions": ["roles:read"]})
    assert r.status == 201
    created = await _create(admin)
    auth = basic(created["client_id"], created["client_secret"])
    for app_client in (a, b):  # verified (and its roles remembered) on both processes
        assert (await app_client.get("/admin/roles", headers=auth)).status == 403

    r = await admin.request("PUT", f"/admin/clients/{created['client_id']}/roles", json={"roles": [reader]})
    assert r.status == 200 and (await r.json())["roles"] == [reader]
    assert (await a.get("/admin/roles", headers=auth)).status == 200

    async def granted_on_b():
        return (await b.get("/admin/roles", headers=auth)).status == 200

    await _eventually(granted_on_b)
    me = await (await b.get("/auth/me", headers=auth)).json()
    assert me["kind"] == "client" and me["roles"] == [reader]

    r = await admin.request("PUT", f"/admin/clients/{created['client_id']}/roles", json={"roles": []})
    assert r.status == 200 and (await r.json())["roles"] == []

    async def revoked_on_b():
        return (await b.get("/admin/roles", headers=auth)).status == 403

    await _eventually(revoked_on_b)
    assert (await a.get("/admin/roles", headers=auth)).status == 403


async def test_a_role_change_retried_after_a_failed_broadcast_reaches_every_process(serve, make_settings):
    """The first PUT commits and then cannot tell the other processes (503); the retry finds
    nothing to change in Postgres and must still tell them."""
    _, a, b = await _two_apps(serve, make_settings)
    admin, _ = await user(a, "admin")
    reader = _role_name("role-reader")
    assert (await admin.request("POST", "/admin/roles", json={"name": reader, "permissions": ["roles:read"]})).status == 201
    created = await _create(admin, roles=[reader])
    auth = basic(created["client_id"], created["client_secret"])
    assert (await b.get("/admin/roles", headers=auth)).status == 200  # remembered on b with the role
    clients = a.server.app[SERVICES].clients
    real = clients.redis.publish
    clients.redis.publish = failing_once(real)
    try:
        path = f"/admin/clients/{created['client_id']}/roles"
        assert (await admin.request("PUT", path, json={"roles": []})).status == 503
        assert (await admin.request("PUT", path, json={"roles": []})).status == 200
    finally:
        clients.redis.publish = real

    async def revoked_on_b():
        return (await b.get("/admin/roles", headers=auth)).status == 403

    await _eventually(revoked_on_b)


async def test_bad_input_is_a_stable_4xx(serve, make_settings):
    client = await serve(make_settings(**FAST))
    admin, _ = await user(client, "admin")
    created = await _create(admin)
    cid = created["client_id"]
    x = "refused-" + uuid.uuid4().hex  # a name only the refused attempts use
    cases = [
        ({"name": x, "roles": ["no-such-role-" + uuid.uuid4().hex[:6]]}, "unknown_role"),
        ({"name": x, "roles": ["bad role!"]}, "invalid_request"),
        ({"name": x * 201}, "invalid_request"),
        ({"name": ""}, "invalid_request"),
        ({"name": "   "}, "invalid_request"),
        ({"name": "tab\there"}, "invalid_request"),
        ({"name": "nul\x00here"}, "invalid_request"),
        ({"name": x, "client_secret": "chosen"}, "invalid_request"),  # no caller-chosen secrets
        ({"name": x, "roles": "admin"}, "invalid_request"),
        ({"roles": []}, "invalid_request"),
    ]
    for body, code in cases:
        r = await admin.request("POST", "/admin/clients", json=body)
        assert r.status == 422, (body, r.status)
        assert r.content_type == "application/problem+json" and (await r.json())["code"] == code, body
    r = await admin.request("PUT", f"/admin/clients/{cid}/roles", json={"roles": ["ghost-" + uuid.uuid4().hex[:6]]})
    assert r.status == 422 and (await r.json())["code"] == "unknown_role"
    r = await admin.request("PUT", f"/admin/clients/{cid}/roles", json={"roles": ["x"] * 201})
    assert r.status == 422
    for path in ("nope", "cl_" + "A" * 300, "cl_%00" + "A" * 19, "%ED%A0%80", "cl_" + "A" * 21 + "%2F",
                 "cl_" + "A" * 22):  # well-formed but unknown
        for method, suffix, body in (("GET", "", None), ("DELETE", "", None), ("POST", "/secret", None),
                                     ("PUT", "/roles", {"roles": []})):
            r = await admin.request(method, f"/admin/clients/{path}{suffix}", json=body)
            assert r.status == 404, (method, path, suffix, r.status)
            assert r.content_type == "application/problem+json"
    # Nothing of the failed attempts was created, and the real client is untouched.
    listing = (await (await admin.request("GET", "/admin/clients")).json())["clients"]
    assert not [c for c in listing if x in c["name"]]
    assert [c["roles"] for c in listing if c["client_id"] == cid] == [[]]


async def test_non_admins_get_401_and_403_and_permission_holders_only_their_part(serve, make_settings):
    client = await serve(make_settings(**FAST))
    admin, _ = await user(client, "admin")
    created = await _create(admin)
    cid = created["client_id"]
    routes = [("GET", "/admin/clients", None), ("POST", "/admin/clients", {"name": "x"}),
              ("GET", f"/admin/clients/{cid}", None), ("POST", f"/admin/clients/{cid}/secret", None),
              ("PUT", f"/admin/clients/{cid}/roles", {"roles": []}), ("DELETE", f"/admin/clients/{cid}", None)]
    member, _ = await user(client, "plain-member")
    for method, path, body in routes:
        assert (await client.request(method, path, json=body)).status == 401, (method, path)
        denied = await member.request(method, path, json=body)
        assert denied.status == 403 and (await denied.json())["code"] == "forbidden", (method, path)
    # An API client without the permission is refused too, and cannot rotate itself.
    own = basic(cid, created["client_secret"])
    assert (await client.post(f"/admin/clients/{cid}/secret", headers=own)).status == 403

    auditor_role = _role_name("client-auditor")
    r = await admin.request("POST", "/admin/roles", json={"name": auditor_role, "permissions": ["clients:read"]})
    assert r.status == 201
    auditor, _ = await user(client, auditor_role)
    assert (await auditor.request("GET", "/admin/clients")).status == 200
    assert (await auditor.request("GET", f"/admin/clients/{cid}")).status == 200
    assert (await auditor.request("POST", "/admin/clients", json={"name": "x"})).status == 403
    assert (await auditor.request("POST", f"/admin/clients/{cid}/secret")).status == 403

    # clients:write without admin: may create clients with roles it holds, never more.
    manager_role = _role_name("client-manager")
    r = await admin.request("POST", "/admin/roles", json={"name": manager_role,
                                                          "permissions": ["clients:read", "clients:write"],
                                                          "parents": [auditor_role]})
    assert r.status == 201
    manager, _ = await user(client, manager_role)
    r = await manager.request("POST", "/admin/clients", json={"name": "escalate", "roles": ["admin"]})
    assert r.status == 403 and (await r.json())["code"] == "forbidden"
    r = await manager.request("PUT", f"/admin/clients/{cid}/roles", json={"roles": ["admin"]})
    assert r.status == 403
    r = await manager.request("POST", "/admin/clients", json={"name": "inherited", "roles": [auditor_role]})
    assert r.status == 201 and (await r.json())["roles"] == [auditor_role]
    r = await manager.request("PUT", f"/admin/clients/{cid}/roles", json={"roles": [manager_role]})
    assert r.status == 200


async def test_each_change_emits_its_event_without_any_secret(serve, make_settings, redis):
    settings = make_settings(**FAST)
    client = await serve(settings)
    admin, admin_id = await user(client, "admin")
    role = _role_name("ev")
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    created = await _create(admin, "evented", [role])
    cid = created["client_id"]
    rotated = await (await admin.request("POST", f"/admin/clients/{cid}/secret")).json()
    assert (await admin.request("PUT", f"/admin/clients/{cid}/roles", json={"roles": []})).status == 200
    # Setting the same roles again changes nothing and says nothing.
    assert (await admin.request("PUT", f"/admin/clients/{cid}/roles", json={"roles": []})).status == 200
    assert (await admin.request("DELETE", f"/admin/clients/{cid}")).status == 204

    events = [e for e in await _events(redis, settings) if e["type"].startswith("auth.client.")]
    assert [e["type"] for e in events] == ["auth.client.created", "auth.client.secret_rotated",
                                           "auth.client.roles_changed", "auth.client.deleted"]
    for event in events:
        assert event["data"]["client_id"] == cid
        assert event["data"]["actor"] == {"kind": "user", "id": admin_id}
    assert events[0]["data"]["roles"] == [role] and events[0]["data"]["name"] == "evented"
    assert events[2]["data"]["revoked"] == [role] and events[2]["data"]["granted"] == []
    raw = json.dumps(await redis.xrange(settings.events.stream))
    for secret in (created["client_secret"], rotated["client_secret"]):
        assert secret not in raw
    assert "argon2" not in raw
