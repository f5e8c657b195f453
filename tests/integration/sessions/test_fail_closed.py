"""Invariant 3: Redis or Postgres down gives 503 problem+json (never 200, never a
traceback); the same app recovers by itself when the store returns."""
import asyncio


from tests.integration.sessions.outage import TcpProxy, until_ready
from tests.support.browser import STRONG_PASSWORD, Browser, new_email


async def _unavailable(response) -> dict:
    assert response.status == 503
    assert response.content_type == "application/problem+json"
    text = await response.text()
    assert "Traceback" not in text and "Error(" not in text
    return await response.json()


async def test_redis_down_is_503_and_recovers(serve, make_settings, private_redis):
    settings = make_settings(redis={"url": private_redis.url, "socket_timeout_s": 1.0})
    client = await serve(settings)
    browser = Browser(client)
    email = await browser.signed_up()
    assert (await browser.request("GET", "/auth/session")).status == 200  # cached now, too

    private_redis.stop()
    await asyncio.sleep(0.1)
    body = await _unavailable(await browser.request("GET", "/auth/session"))
    assert body["code"] == "service_unavailable"
    await _unavailable(await browser.request("GET", "/auth/sessions"))
    await _unavailable(await Browser(client).login(email))
    await _unavailable(await browser.request("POST", "/auth/logout"))
    ready = await client.get("/readyz")
    assert (await _unavailable(ready))["checks"] == {"redis": "unreachable", "postgres": "ok"}
    assert (await client.get("/healthz")).status == 200  # the process itself is up

    private_redis.start()  # same port, empty (no persistence): old sessions are gone
    await until_ready(client)
    assert (await browser.request("GET", "/auth/session")).status == 401
    again = Browser(client)
    assert (await again.login(email)).status == 200
    assert (await again.request("GET", "/auth/session")).status == 200


async def test_postgres_down_is_503_and_recovers(serve, make_settings, database_url):
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    try:
        url = database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
        assert url != database_url
        client = await serve(make_settings(database={"url": url, "connect_timeout_s": 1.0}))
        browser = Browser(client)
        email = await browser.signed_up()

        await proxy.stop()
        await _unavailable(await Browser(client).login(email))
        await _unavailable(await Browser(client).register(new_email()))
        await _unavailable(await browser.request("POST", "/auth/password", json={
            "current_password": STRONG_PASSWORD, "new_password": "another long passphrase 1"}))
        ready = await client.get("/readyz")
        assert (await _unavailable(ready))["checks"] == {"redis": "ok", "postgres": "unreachable"}
        # Sessions live in Redis: a logged-in user is still recognised.
        assert (await browser.request("GET", "/auth/session")).status == 200

        await proxy.start()
        await until_ready(client)
        assert (await Browser(client).login(email)).status == 200
        assert (await Browser(client).register(new_email())).status == 201
    finally:
        await proxy.stop()
