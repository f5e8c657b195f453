"""The async engine and session factory."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def make_engine(url: str, *, pool_size: int = 10, connect_timeout_s: float = 3.0) -> AsyncEngine:
    # pre_ping lets the pool drop connections that died while Postgres was down,
    # so the service recovers on its own when it returns.
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
        connect_args={"timeout": connect_timeout_s, "command_timeout": 10},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
