"""POST /auth/password commits the new hash in Postgres, then relays its event and sets the
user's revocation epoch in Redis. A Redis blip between the two answers 503 with the password
changed, and the owner cannot retry (their current password is the new one): the sessions
the old password opened must be ended all the same (API.md: a password change ends every
other session)."""

from app.http.appkeys import SERVICES
from tests.integration.sessions.outage import TcpProxy, until_ready
from tests.support.browser import STRONG_PASSWORD, Browser

NEW_PASSWORD = "another long passphrase 1"


async def test_a_redis_blip_after_the_commit_leaves_no_session_of_the_old_password(serve, make_settings):
    proxy = TcpProxy("127.0.0.1", 6379)
    await proxy.start()
    try:
        settings = make_settings(redis={"url": f"redis://127.0.0.1:{proxy.port}/0", "socket_timeout_s": 1.0},
                                 password={"time_cost": 1, "memory_kib": 1024})
        client = await serve(settings)
        services = client.server.app[SERVICES]
        owner = Browser(client)
        email = await owner.signed_up()
        attacker = Browser(client)
        assert (await attacker.login(email)).status == 200
        assert (await attacker.request("GET", "/auth/session")).status == 200

        original = services.relay.relay

        async def redis_dies_after_commit(*args, **kwargs):
            await proxy.stop()  # Redis unreachable right after the Postgres commit
            return await original(*args, **kwargs)

        services.relay.relay = redis_dies_after_commit
        change = await owner.request("POST", "/auth/password", json={
            "current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD})
        services.relay.relay = original
        assert change.status == 503  # fail closed at the time: fine

        await proxy.start()
        await until_ready(client)
        # The password did change (committed in Postgres) ...
        assert (await Browser(client).login(email, STRONG_PASSWORD)).status == 401
        assert (await Browser(client).login(email, NEW_PASSWORD)).status == 200
        # ... so the session opened with the old password must be gone.
        r = await attacker.request("GET", "/auth/session")
        assert r.status == 401, f"session survives a committed password change: {r.status} {await r.text()}"
    finally:
        await proxy.stop()
