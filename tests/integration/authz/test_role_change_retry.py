"""A user-role change that committed but failed to reach Redis (503) reaches the live
sessions when the admin retries, although the retry finds nothing left to change in Postgres."""
from redis.exceptions import ConnectionError as RedisConnectionError

from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import user


async def test_retry_after_a_redis_failure_reaches_live_sessions(client):
    admin, _ = await user(client, "admin")
    member, member_id = await user(client, "admin")
    assert (await member.request("GET", "/admin/roles")).status == 200
    store = client.server.app[SERVICES].authz_admin.session_store
    real = store.update_profile
    calls = []

    async def fails_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise RedisConnectionError("connection reset")
        return await real(*args, **kwargs)

    store.update_profile = fails_once
    try:
        assert (await admin.request("DELETE", f"/admin/users/{member_id}/roles/admin")).status == 503
        assert (await admin.request("DELETE", f"/admin/users/{member_id}/roles/admin")).status == 204
    finally:
        store.update_profile = real
    assert (await (await admin.request("GET", f"/admin/users/{member_id}/roles")).json())["roles"] == []
    assert (await member.request("GET", "/admin/roles")).status == 403
    assert (await (await member.request("GET", "/auth/session")).json())["user"]["roles"] == []
