"""A user-role change that committed but failed to reach Redis (503) reaches the live
sessions when the admin retries, although the retry finds nothing left to change in Postgres."""
import uuid


from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import user
from tests.support.faults import failing_once


async def test_retry_after_a_redis_failure_reaches_live_sessions(client):
    admin, _ = await user(client, "admin")
    member, member_id = await user(client, "admin")
    assert (await member.request("GET", "/admin/roles")).status == 200
    store = client.server.app[SERVICES].authz_admin.session_store
    real = store.update_profile
    store.update_profile = failing_once(real)
    try:
        assert (await admin.request("DELETE", f"/admin/users/{member_id}/roles/admin")).status == 503
        assert (await admin.request("DELETE", f"/admin/users/{member_id}/roles/admin")).status == 204
    finally:
        store.update_profile = real
    assert (await (await admin.request("GET", f"/admin/users/{member_id}/roles")).json())["roles"] == []
    assert (await member.request("GET", "/admin/roles")).status == 403
    assert (await (await member.request("GET", "/auth/session")).json())["user"]["roles"] == []


async def test_a_role_deletion_that_failed_on_redis_is_retried_whole(client):
    """Deleting a role removes it from its holders' sessions before the commit, so a Redis
    failure (503) leaves the role in place and the retry does all of it (after a commit, the
    retry would find no role, answer 404 and never reach the holders' sessions)."""
    admin, _ = await user(client, "admin")
    role = f"editor-{uuid.uuid4().hex[:8]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": role})).status == 201
    member, _ = await user(client, role)
    assert (await (await member.request("GET", "/auth/session")).json())["user"]["roles"] == [role]
    store = client.server.app[SERVICES].authz_admin.session_store
    real = store.update_profile
    store.update_profile = failing_once(real)
    try:
        assert (await admin.request("DELETE", f"/admin/roles/{role}")).status == 503
        assert (await admin.request("DELETE", f"/admin/roles/{role}")).status == 204
    finally:
        store.update_profile = real
    assert (await (await member.request("GET", "/auth/session")).json())["user"]["roles"] == []
