"""The admin API for roles, user roles and rules: payloads, errors, events, live sessions."""
import json
import uuid

from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import delegate, user


def _name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


async def _events(redis, settings, type_):
    entries = await redis.xrange(settings.events.stream)
    return [json.loads(f["event"]) for _, f in entries if json.loads(f["event"])["type"] == type_]


async def test_roles_crud_with_inheritance_and_cycles(client, settings, redis):
    admin, _ = await user(client, "admin")
    base, mid, top = _name("base"), _name("mid"), _name("top")
    r = await admin.request("POST", "/admin/roles", json={"name": base, "permissions": ["posts:read"]})
    assert r.status == 201 and (await r.json())["permissions"] == ["posts:read"]
    assert (await admin.request("POST", "/admin/roles", json={"name": mid, "parents": [base]})).status == 201
    assert (await admin.request("POST", "/admin/roles", json={"name": top, "parents": [mid],
                                                             "permissions": ["comments:*"]})).status == 201
    r = await admin.request("GET", f"/admin/roles/{top}")
    body = await r.json()
    assert body["effective_roles"] == sorted([base, mid, top])
    assert body["effective_permissions"] == ["comments:*", "posts:read"]
    # base -> top would close base -> top -> mid -> base.
    r = await admin.request("PUT", f"/admin/roles/{base}/parents", json={"parents": [top]})
    problem = await r.json()
    assert r.status == 409 and r.content_type == "application/problem+json"
    assert problem["code"] == "role_cycle" and problem["cycle"][0] == base and problem["cycle"][-1] == base
    r = await admin.request("PUT", f"/admin/roles/{base}/parents", json={"parents": [base]})
    assert r.status == 409
    r = await admin.request("POST", "/admin/roles", json={"name": base})
    assert r.status == 409 and (await r.json())["code"] == "role_exists"
    r = await admin.request("POST", "/admin/roles", json={"name": _name("x"), "parents": ["no-such-role"]})
    assert r.status == 422 and (await r.json())["code"] == "unknown_role"
    r = await admin.request("PUT", f"/admin/roles/{base}/permissions", json={"permissions": ["Posts:read:x"]})
    assert r.status == 422 and (await r.json())["code"] == "invalid_permission"
    listed = {x["name"]: x for x in (await (await admin.request("GET", "/admin/roles")).json())["roles"]}
    assert listed[mid]["parents"] == [base]
    assert (await admin.request("DELETE", f"/admin/roles/{mid}")).status == 204
    assert (await admin.request("GET", f"/admin/roles/{mid}")).status == 404
    body = await (await admin.request("GET", f"/admin/roles/{top}")).json()
    assert body["effective_roles"] == [top]
    changed = await _events(redis, settings, "auth.role.changed")
    assert {e["data"]["change"] for e in changed} >= {"created", "deleted"}


async def test_user_roles_update_live_sessions_and_emit_events(client, settings, redis):
    admin, _ = await user(client, "admin")
    member, member_id = await user(client)
    role = _name("auditor")
    await admin.request("POST", "/admin/roles", json={"name": role})
    r = await admin.request("PUT", f"/admin/users/{member_id}/roles", json={"roles": [role]})
    assert r.status == 200 and (await r.json())["roles"] == [role]
    session = await (await member.request("GET", "/auth/session")).json()
    assert session["user"]["roles"] == [role]  # the live session carries the change at once
    r = await admin.request("PUT", f"/admin/users/{member_id}/roles", json={"roles": ["ghost-role"]})
    assert r.status == 422 and (await r.json())["code"] == "unknown_role"
    assert (await admin.request("POST", f"/admin/users/{member_id}/roles", json={"role": "admin"})).status == 200
    r = await admin.request("GET", f"/admin/users/{member_id}/roles")
    assert (await r.json())["roles"] == sorted(["admin", role])
    assert (await admin.request("DELETE", f"/admin/users/{member_id}/roles/{role}")).status == 204
    assert (await (await admin.request("GET", f"/admin/users/{member_id}/roles")).json())["roles"] == ["admin"]
    assert (await admin.request("GET", f"/admin/users/{uuid.uuid4()}/roles")).status == 404
    assert (await admin.request("GET", "/admin/users/not-a-uuid/roles")).status == 404
    events = [e for e in await _events(redis, settings, "auth.role.changed") if e["subject"] == member_id]
    assert [e["data"]["granted"] for e in events] == [[role], ["admin"], []]
    assert events[-1]["data"]["revoked"] == [role]


async def test_policies_crud_and_malformed_rules(client, settings, redis):
    admin, _ = await user(client, "admin")
    role = _name("writer")
    await admin.request("POST", "/admin/roles", json={"name": role})
    rule = {"effect": "allow", "action": "update", "subject_type": "post", "role": role,
            "conditions": {"author_id": "${user.id}", "status": {"$in": ["draft", "review"]}},
            "fields": ["title", "body"]}
    r = await admin.request("POST", "/admin/policies", json=rule)
    created = await r.json()
    assert r.status == 201 and created["conditions"] == rule["conditions"] and created["fields"] == ["title", "body"]
    listed = (await (await admin.request("GET", f"/admin/policies?role={role}")).json())["policies"]
    assert [p["id"] for p in listed] == [created["id"]]
    assert (await (await admin.request("GET", f"/admin/policies/{created['id']}")).json())["action"] == "update"
    bad = [
        ({**rule, "action": "fly"}, "unknown_action"),
        ({**rule, "conditions": {"score": {"$regex": "x"}}}, "invalid_rule"),
        ({**rule, "conditions": {"score": {"$gt": "high"}}}, "invalid_rule"),
        ({**rule, "conditions": {"owner": "${user.secret}"}}, "invalid_rule"),
        ({**rule, "effect": "perhaps"}, "invalid_rule"),
        ({**rule, "fields": "title"}, "invalid_rule"),
        ({k: v for k, v in rule.items() if k != "role"}, "invalid_rule"),
        ({**rule, "role": "no-such-role"}, "unknown_role"),
        ({**rule, "user_id": str(uuid.uuid4()), "role": None}, "invalid_rule"),
    ]
    for body, code in bad:
        r = await admin.request("POST", "/admin/policies", json=body)
        assert r.status == 422, body
        assert (await r.json())["code"] == code, body
    assert (await admin.request("DELETE", f"/admin/policies/{created['id']}")).status == 204
    assert (await admin.request("DELETE", f"/admin/policies/{created['id']}")).status == 404
    changes = [e["data"]["change"] for e in await _events(redis, settings, "auth.policy.changed")]
    assert changes == ["created", "deleted"]


async def test_permission_guards_admit_named_permission_holders(client):
    admin, _ = await user(client, "admin")
    reader = _name("reader")
    await admin.request("POST", "/admin/roles", json={"name": reader, "permissions": ["roles:read"]})
    member, _ = await user(client, reader)
    assert (await member.request("GET", "/admin/roles")).status == 200
    r = await member.request("POST", "/admin/roles", json={"name": _name("nope")})
    assert r.status == 403 and (await r.json())["code"] == "forbidden"


async def test_role_change_bumps_version_and_drops_caches(client, settings, redis):
    admin, _ = await user(client, "admin")
    services = client.server.app[SERVICES]
    await admin.request("GET", "/admin/roles")
    before = await redis.get(f"{settings.redis.key_prefix}:authz:version")
    await admin.request("POST", "/admin/roles", json={"name": _name("v")})
    after = await redis.get(f"{settings.redis.key_prefix}:authz:version")
    assert int(after) == int(before or 0) + 1
    assert services.authz._snapshot is None or services.authz._snapshot.version == after


async def test_user_role_administrators_cannot_grant_or_take_what_they_do_not_hold(client):
    admin, _ = await user(client, "admin")
    stem = uuid.uuid4().hex[:8]
    helper_role, other_role = f"role-admins-{stem}", f"other-{stem}"
    for name, permissions in ((helper_role, ["user_roles:read", "user_roles:write"]), (other_role, [])):
        r = await admin.request("POST", "/admin/roles", json={"name": name, "permissions": permissions})
        assert r.status == 201, await r.text()
    delegate, delegate_id = await user(client, helper_role)
    _, target_id = await user(client, other_role)

    # Escalation: granting itself (or anyone) admin, or a role it lacks, is refused and changes nothing.
    for method, path, body in (("POST", f"/admin/users/{delegate_id}/roles", {"role": "admin"}),
                               ("PUT", f"/admin/users/{target_id}/roles", {"roles": ["admin", other_role]}),
                               ("DELETE", f"/admin/users/{target_id}/roles/{other_role}", None),
                               ("PUT", f"/admin/users/{target_id}/roles", {"roles": []})):
        r = await delegate.request(method, path, json=body)
        assert r.status == 403 and (await r.json())["code"] == "forbidden", (method, path, await r.text())
    roles = (await (await admin.request("GET", f"/admin/users/{target_id}/roles")).json())["roles"]
    assert roles == [other_role]
    assert "admin" not in (await (await admin.request("GET", f"/admin/users/{delegate_id}/roles")).json())["roles"]

    # What it holds, it may hand on; an admin may do anything.
    r = await delegate.request("POST", f"/admin/users/{target_id}/roles", json={"role": helper_role})
    assert r.status == 200 and helper_role in (await r.json())["roles"]
    r = await admin.request("PUT", f"/admin/users/{target_id}/roles", json={"roles": ["admin"]})
    assert r.status == 200 and (await r.json())["roles"] == ["admin"]


async def test_a_delegates_role_replacement_cannot_undo_an_admin_grant_that_landed_meanwhile(client):
    """The delegate's PUT was checked against the user's roles as read before it; an admin
    grants the user `admin` in between. Replacing the roles now would take away a role the
    delegate does not hold: judged on the roles at the commit, it is refused."""
    from app.authz.manager import Actor

    admin, _ = await user(client, "admin")
    role_admin, helper_role = await delegate(client, admin, "role-admins", ["user_roles:read", "user_roles:write"])
    _, target_id = await user(client)
    manager = client.server.app[SERVICES].authz_admin
    real_read = manager.user_roles

    async def read_then_an_admin_grants(user_id):
        roles = await real_read(user_id)
        await manager.set_user_roles(user_id, ["admin"], Actor(kind="user", id="another-admin"), mode="add")
        return roles

    manager.user_roles = read_then_an_admin_grants
    try:
        r = await role_admin.request("PUT", f"/admin/users/{target_id}/roles", json={"roles": [helper_role]})
    finally:
        manager.user_roles = real_read
    assert r.status == 403, (r.status, await r.text())
    roles = (await (await admin.request("GET", f"/admin/users/{target_id}/roles")).json())["roles"]
    assert roles == ["admin"]
