"""A Redis blip right after a committed credential change answers 503 with the change made
in Postgres; the sessions that change must end cannot be left to a retry.

POST /auth/password: the owner cannot retry (their current password is the new one), and
the sessions the old password opened must be ended all the same (API.md: a password
change ends every other session). POST /admin/users/{id}/disable: a disabled account logs
in no more, so its open sessions must not outlive the disable either, retry or not."""
import contextlib

from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import user
from tests.integration.sessions.outage import TcpProxy, until_ready
from tests.support.browser import STRONG_PASSWORD, Browser

NEW_PASSWORD = "another long passphrase 1"


@contextlib.asynccontextmanager
async def _behind_a_proxy(serve, make_settings):
    proxy = TcpProxy("127.0.0.1", 6379)
    await proxy.start()
    try:
        settings = make_settings(redis={"url": f"redis://127.0.0.1:{proxy.port}/0", "socket_timeout_s": 1.0},
                                 password={"time_cost": 1, "memory_kib": 1024})
        yield proxy, await serve(settings)
    finally:
        await proxy.stop()


@contextlib.asynccontextmanager
async def _redis_dies_after_the_commit(client, proxy):
    """Redis becomes unreachable once the change committed (its event is relayed after the
    commit), and is back when the block ends."""
    relay = client.server.app[SERVICES].relay
    original = relay.relay

    async def redis_dies_after_commit(*args, **kwargs):
        await proxy.stop()
        return await original(*args, **kwargs)

    relay.relay = redis_dies_after_commit
    try:
        yield
    finally:
        relay.relay = original
        await proxy.start()
        await until_ready(client)


async def test_a_redis_blip_after_the_commit_leaves_no_session_of_the_old_password(serve, make_settings):
    async with _behind_a_proxy(serve, make_settings) as (proxy, client):
        owner = Browser(client)
        email = await owner.signed_up()
        attacker = Browser(client)
        assert (await attacker.login(email)).status == 200
        assert (await attacker.request("GET", "/auth/session")).status == 200

        async with _redis_dies_after_the_commit(client, proxy):
            change = await owner.request("POST", "/auth/password", json={
                "current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD})
        assert change.status == 503  # fail closed at the time: fine

        # The password did change (committed in Postgres) ...
        assert (await Browser(client).login(email, STRONG_PASSWORD)).status == 401
        assert (await Browser(client).login(email, NEW_PASSWORD)).status == 200
        # ... so the session opened with the old password must be gone.
        r = await attacker.request("GET", "/auth/session")
        assert r.status == 401, f"session survives a committed password change: {r.status} {await r.text()}"


async def test_a_redis_blip_after_a_committed_disable_leaves_no_session_of_the_account(serve, make_settings):
    async with _behind_a_proxy(serve, make_settings) as (proxy, client):
        admin, _ = await user(client, "admin")
        victim, victim_id = await user(client)
        assert (await victim.request("GET", "/auth/session")).status == 200

        async with _redis_dies_after_the_commit(client, proxy):
            disable = await admin.request("POST", f"/admin/users/{victim_id}/disable")
        assert disable.status == 503  # fail closed at the time: fine

        # The account is disabled (committed in Postgres) ...
        forced_logout = client.server.app[SERVICES].forced_logout
        async with forced_logout.sessionmaker() as session:
            assert (await forced_logout.users.by_id(session, victim_id)).disabled
        # ... so its sessions must be gone although nobody retried.
        r = await victim.request("GET", "/auth/session")
        assert r.status == 401, f"session survives a committed disable: {r.status} {await r.text()}"
