"""Writes naming a role race its deletion: each either lands before the delete or finds the
role gone (404/422), never a foreign-key violation (500)."""
import asyncio
import uuid

from tests.integration.authz.helpers import user


async def test_writes_racing_a_role_deletion_never_500(client):
    admin, _ = await user(client, "admin")
    _, member_id = await user(client)
    statuses = set()
    for _ in range(15):
        role = f"race-{uuid.uuid4().hex[:8]}"
        assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
        replies = await asyncio.gather(
            admin.request("PUT", f"/admin/roles/{role}/permissions", json={"permissions": ["posts:read"]}),
            admin.request("POST", f"/admin/users/{member_id}/roles", json={"role": role}),
            admin.request("POST", "/admin/policies", json={"effect": "allow", "action": "read",
                                                           "subject_type": "post", "role": role}),
            admin.request("DELETE", f"/admin/roles/{role}"))
        statuses.update(r.status for r in replies)
    assert statuses <= {200, 201, 204, 404, 422}, statuses
    # Whichever order they ran in, the member holds no role that no longer exists.
    roles = (await (await admin.request("GET", f"/admin/users/{member_id}/roles")).json())["roles"]
    assert not [r for r in roles if r.startswith("race-")]
