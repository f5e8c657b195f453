"""Invariant 3 when Postgres goes away under a statement in flight (a restart's fast
shutdown, a failover, pg_terminate_backend): 503 problem+json, never 500, and the
workers retry it. SQLAlchemy's asyncpg adapter reports it as a plain DBAPIError."""
import asyncio

import asyncpg
from sqlalchemy import text

from app.outage import is_store_outage
from app.services import build_services
from tests.conftest import PG_SERVER, TEST_DB
from tests.integration.tokens.helpers import token_settings
from tests.support.browser import Browser, new_email


async def _terminate_backend(killer: asyncpg.Connection, where: str, *args, seconds: float = 10.0) -> None:
    """pg_terminate_backend the first other backend of the test database matching ``where``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        rows = await killer.fetch(f"SELECT pid FROM pg_stat_activity WHERE datname = $1 AND {where}"
                                  " AND pid <> pg_backend_pid()", TEST_DB, *args)
        if rows:
            await killer.execute("SELECT pg_terminate_backend($1)", rows[0]["pid"])
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no backend matched {where}")


async def test_register_whose_insert_is_cut_is_503_and_recovers(serve, make_settings, database_url):
    client = await serve(token_settings(make_settings))
    assert (await Browser(client, cookie_name="sid").register(new_email())).status == 201  # warm the pool

    holder = await asyncpg.connect(f"{PG_SERVER}/{TEST_DB}")
    killer = await asyncpg.connect(f"{PG_SERVER}/{TEST_DB}")
    try:
        # Hold the table so the INSERT is surely in flight when its backend is terminated.
        tx = holder.transaction()
        await tx.start()
        await holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        request = asyncio.create_task(Browser(client, cookie_name="sid").register(new_email()))
        await _terminate_backend(killer, "wait_event_type = 'Lock'")
        await tx.rollback()
        response = await request
    finally:
        await holder.close()
        await killer.close()
    assert response.status == 503, await response.text()
    assert response.content_type == "application/problem+json"
    assert (await response.json())["code"] == "service_unavailable"
    assert response.headers["Retry-After"] == "1"
    assert (await Browser(client, cookie_name="sid").register(new_email())).status == 201


async def test_a_statement_cut_by_the_server_counts_as_an_outage(make_settings):
    """What a worker task meets when Postgres restarts under it: retried, not failed for good."""
    services = build_services(make_settings())
    killer = await asyncpg.connect(f"{PG_SERVER}/{TEST_DB}")
    try:
        async def slow() -> None:
            async with services.sessionmaker() as session:
                await session.execute(text("SELECT pg_sleep(5)"))
        statement = asyncio.create_task(slow())
        await _terminate_backend(killer, "query LIKE 'SELECT pg_sleep(5)%'", seconds=5)
        try:
            await statement
        except Exception as e:  # noqa: BLE001 - whatever the adapter raises is the subject
            cut = e
        else:
            raise AssertionError("the statement survived its backend")
    finally:
        await killer.close()
        await services.close()
    assert is_store_outage(cut), f"{type(cut).__module__}.{type(cut).__name__}: {cut}"
