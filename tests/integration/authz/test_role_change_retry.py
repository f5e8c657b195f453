"""A user-role change that committed but failed to reach Redis (503) reaches the live
sessions when the admin retries, although the retry finds nothing left to change in Postgres."""
import uuid

from app.authz.engine import Subject
from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import user
from tests.support.browser import Browser
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


async def _check(browser, user_id: str) -> dict:
    reply = await browser.request("POST", "/authz/check", json={
        "subject": {"id": user_id}, "action": "update", "resource": {"type": "post", "id": "1"}})
    return await reply.json()


async def _two_processes_with_an_admin(serve, settings):
    a, b = await serve(settings), await serve(settings)
    for c in (a, b):
        await c.server.app[SERVICES].bus.connected.wait()
    admin, _ = await user(a, "admin")
    return a, b, admin


async def _delete_announcing_only_on_retry(a, admin, path: str) -> None:
    """DELETE ``path``: the first call commits, then fails to announce (503); the retry finds
    nothing to delete (404)."""
    manager = a.server.app[SERVICES].authz_admin
    real = manager.bump
    manager.bump = failing_once(real)
    try:
        assert (await admin.request("DELETE", path)).status == 503
        assert (await admin.request("DELETE", path)).status == 404
    finally:
        manager.bump = real


async def test_a_policy_deletion_whose_announcement_failed_is_announced_by_the_retry(serve, settings):
    """The delete committed, then telling the processes failed (503); the retry finds no policy
    (404) but must still announce, or every process keeps deciding with the deleted rule."""
    a, b, admin = await _two_processes_with_an_admin(serve, settings)
    admin_b = Browser(b)
    admin_b.session_id, admin_b.csrf = admin.session_id, admin.csrf
    _, member_id = await user(a)
    created = await admin.request("POST", "/admin/policies", json={
        "effect": "allow", "action": "update", "subject_type": "post", "user_id": member_id})
    policy_id = (await created.json())["id"]
    assert (await _check(admin_b, member_id))["allowed"] is True
    await _delete_announcing_only_on_retry(a, admin, f"/admin/policies/{policy_id}")
    for browser in (admin, admin_b):
        assert (await _check(browser, member_id))["allowed"] is False


async def test_a_role_deletion_whose_announcement_failed_is_announced_by_the_retry(serve, settings):
    """As above for a role: a Bearer token or an API client still names it, and the
    processes' snapshot must lose its permissions."""
    a, b, admin = await _two_processes_with_an_admin(serve, settings)
    role = f"poster-{uuid.uuid4().hex[:6]}"
    assert (await admin.request("POST", "/admin/roles", json={"name": role, "permissions": ["post:update"]})).status == 201
    subject = Subject(kind="user", id=str(uuid.uuid4()), email=None, roles=(role,))
    for c in (a, b):
        assert "post:update" in (await c.server.app[SERVICES].authz.view(subject)).permissions
    await _delete_announcing_only_on_retry(a, admin, f"/admin/roles/{role}")
    for c in (a, b):
        assert "post:update" not in (await c.server.app[SERVICES].authz.view(subject)).permissions
