"""A role or policy change made through one web process holds on another at once."""
import asyncio
import uuid

from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import user
from tests.support.browser import Browser
from tests.support.timing import first_answer_within


async def _status_within(browser: Browser, path: str, want: int, seconds: float) -> float:
    async def status() -> int:
        return (await browser.request("GET", path)).status
    return await first_answer_within(status, want, seconds)


async def _on(client, browser: Browser) -> Browser:
    other = Browser(client)
    other.session_id, other.csrf = browser.session_id, browser.csrf
    return other


async def test_user_role_grant_holds_on_second_process(serve, settings):
    a, b = await serve(settings), await serve(settings)
    await b.server.app[SERVICES].bus.connected.wait()
    admin, _ = await user(a, "admin")
    ops = f"ops-{uuid.uuid4().hex[:6]}"
    await admin.request("POST", "/admin/roles", json={"name": ops, "parents": ["admin"]})
    member_a, member_id = await user(a)
    member_b = await _on(b, member_a)
    for _ in range(3):  # warm b's session and authorization caches
        assert (await member_b.request("GET", "/admin/roles")).status == 403
    assert (await admin.request("PUT", f"/admin/users/{member_id}/roles", json={"roles": [ops]})).status == 200
    await _status_within(member_b, "/admin/roles", 200, 0.1)
    assert (await admin.request("DELETE", f"/admin/users/{member_id}/roles/{ops}")).status == 204
    await _status_within(member_b, "/admin/roles", 403, 0.1)


async def test_role_permission_change_holds_on_second_process(serve, settings):
    a, b = await serve(settings), await serve(settings)
    await b.server.app[SERVICES].bus.connected.wait()
    admin, _ = await user(a, "admin")
    auditor = f"auditor-{uuid.uuid4().hex[:6]}"
    await admin.request("POST", "/admin/roles", json={"name": auditor})
    member_a, _ = await user(a, auditor)
    member_b = await _on(b, member_a)
    for _ in range(3):
        assert (await member_b.request("GET", "/admin/policies")).status == 403
    loads = b.server.app[SERVICES].authz.loads
    r = await admin.request("PUT", f"/admin/roles/{auditor}/permissions", json={"permissions": ["policies:*"]})
    assert r.status == 200
    await _status_within(member_b, "/admin/policies", 200, 0.1)
    assert b.server.app[SERVICES].authz.loads > loads


async def test_cache_is_reused_between_changes_and_distrusted_without_pubsub(serve, settings):
    client = await serve(settings)
    services = client.server.app[SERVICES]
    await services.bus.connected.wait()
    admin, _ = await user(client, "admin")
    await admin.request("GET", "/admin/roles")
    loads = services.authz.loads
    for _ in range(5):
        await admin.request("GET", "/admin/roles")
    assert services.authz.loads == loads  # served from the in-process cache
    await services.bus.stop()
    assert services.authz._snapshot is None  # link lost: the cache is dropped
    await admin.request("GET", "/admin/roles")
    # Untrusted: the version is re-read from Redis on every use, and a change is seen at once.
    await services.authz_admin.bump()
    loads = services.authz.loads
    await admin.request("GET", "/admin/roles")
    assert services.authz.loads == loads + 1


async def test_cli_grant_role_holds_on_second_process(serve, settings):
    """``grant-role`` (AccountManager.grant_role_by_email) rewrites live sessions everywhere."""
    from app.sessions.manager import ClientInfo

    a, b = await serve(settings), await serve(settings)
    await b.server.app[SERVICES].bus.connected.wait()
    member_a, member_id = await user(a)
    member_b = await _on(b, member_a)
    for _ in range(3):
        assert (await member_b.request("GET", "/admin/roles")).status == 403
    session = await (await member_a.request("GET", "/auth/session")).json()
    granted = await a.server.app[SERVICES].accounts.grant_role_by_email(
        session["user"]["email"], "admin", ClientInfo(user_agent="cli"))
    assert granted
    await _status_within(member_b, "/admin/roles", 200, 0.1)


async def test_concurrent_requests_after_a_change_share_one_load(serve, settings):
    client = await serve(settings)
    services = client.server.app[SERVICES]
    await services.bus.connected.wait()
    from app.authz.engine import Subject

    services.authz.reset()
    loads = services.authz.loads
    views = await asyncio.gather(*(services.authz.view(Subject("user", f"u{i}", None, ("admin",)))
                                   for i in range(20)))
    assert services.authz.loads == loads + 1
    assert all("admin" in v.roles for v in views)
