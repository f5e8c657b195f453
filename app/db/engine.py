"""The async engine and session factory."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def make_engine(url: str, *, pool_size: int = 10, connect_timeout_s: float = 3.0) -> AsyncEngine:
    # No pre-ping: it cost a round trip per checkout (two per login). A connection
    # that died while Postgres was down fails its first statement instead; the
    # dialect reads that as a disconnect and invalidates the whole pool, so one
    # request answers 503 and the next ones reconnect (tests/.../test_fail_closed.py).
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
        connect_args={"timeout": connect_timeout_s, "command_timeout": 10},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
