"""Deleting the same rule twice at once: one 204, the rest 404, one event, no 500."""
import asyncio
import json
import uuid

from tests.integration.authz.helpers import user


async def test_concurrent_deletes_of_one_rule(client, settings, redis):
    admin, _ = await user(client, "admin")
    role = f"p-{uuid.uuid4().hex[:8]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    for _ in range(5):
        r = await admin.request("POST", "/admin/policies", json={
            "role": role, "effect": "allow", "action": "read", "subject_type": "doc"})
        pid = (await r.json())["id"]
        replies = await asyncio.gather(*(admin.request("DELETE", f"/admin/policies/{pid}") for _ in range(4)))
        statuses = sorted(r.status for r in replies)
        assert 500 not in statuses, statuses
        entries = await redis.xrange(settings.events.stream)
        deleted = [e for e in (json.loads(f["event"]) for _, f in entries)
                   if e["type"] == "auth.policy.changed" and e["data"].get("policy_id") == pid
                   and e["data"].get("change") == "deleted"]
        assert (statuses.count(204), len(deleted)) == (1, 1), (statuses, len(deleted))


async def test_concurrent_role_deletes(client, settings, redis):
    admin, _ = await user(client, "admin")
    for _ in range(5):
        role = f"d-{uuid.uuid4().hex[:8]}"
        assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
        replies = await asyncio.gather(*(admin.request("DELETE", f"/admin/roles/{role}") for _ in range(4)))
        statuses = sorted(r.status for r in replies)
        assert statuses == [204, 404, 404, 404], statuses


async def test_a_delete_names_the_rule_in_its_one_spelling(client, settings, redis):
    admin, _ = await user(client, "admin")
    role = f"p-{uuid.uuid4().hex[:8]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    r = await admin.request("POST", "/admin/policies", json={
        "role": role, "effect": "allow", "action": "read", "subject_type": "doc"})
    pid = (await r.json())["id"]
    assert (await admin.request("DELETE", f"/admin/policies/{pid.upper()}")).status == 204
    assert (await admin.request("DELETE", f"/admin/policies/{pid}")).status == 404
    assert (await admin.request("DELETE", "/admin/policies/not-a-uuid")).status == 404
    entries = await redis.xrange(settings.events.stream)
    deleted = [e["data"] for e in (json.loads(f["event"]) for _, f in entries)
               if e["type"] == "auth.policy.changed" and e["data"].get("change") == "deleted"]
    assert [(d["policy_id"], d["role"]) for d in deleted] == [(pid, role)]
