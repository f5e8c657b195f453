"""Invariant 3 through a Postgres restart: while the server is starting up it accepts
connections and refuses them with FATAL 57P03; that window is 503 problem+json (the
cut connections, then the refused connects), and the service recovers by itself."""
import pytest

from tests.integration.sessions.outage import RestartingPostgres
from tests.integration.tokens.helpers import token_settings
from tests.support.browser import Browser, new_email


@pytest.fixture
async def restarting_postgres():
    pg = RestartingPostgres()
    await pg.start()
    yield pg
    await pg.stop()


async def test_restart_window_is_503_and_recovers(serve, make_settings, database_url, restarting_postgres):
    url = database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{restarting_postgres.port}/")
    client = await serve(token_settings(make_settings, database={"url": url, "connect_timeout_s": 1.0}))
    email = await Browser(client, cookie_name="sid").signed_up()

    await restarting_postgres.begin_restart()
    replies = {}
    for name, call in (("login", lambda: Browser(client, cookie_name="sid").login(email)),
                       ("register", lambda: Browser(client, cookie_name="sid").register(new_email()))):
        for _ in range(2):  # the first meets a cut connection, the second a refused connect
            r = await call()
            replies.setdefault(name, []).append((r.status, r.content_type, (await r.json()).get("code")))
    unavailable = (503, "application/problem+json", "service_unavailable")
    assert replies == {"login": [unavailable] * 2, "register": [unavailable] * 2}
    assert (await client.get("/readyz")).status == 503

    restarting_postgres.end_restart()
    assert (await Browser(client, cookie_name="sid").login(email)).status == 200
    assert (await Browser(client, cookie_name="sid").register(new_email())).status == 201
