"""Run Alembic migrations programmatically (CLI, tests and the run script share it)."""
from __future__ import annotations

import asyncio

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from app.settings import CONFIG_DIR


def alembic_config(url: str) -> Config:
    cfg = Config(str(CONFIG_DIR / "alembic.ini"))
    cfg.attributes["url"] = url
    return cfg


async def ensure_database(url: str) -> None:
    """Create the target database when the server is up but the database is not there yet."""
    target = make_url(url)
    dsn = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", target.database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await conn.close()


def upgrade(url: str) -> None:
    asyncio.run(ensure_database(url))
    # Independent features add their tables as separate heads off 0001.
    command.upgrade(alembic_config(url), "heads")
