"""Before running: is each backing service reachable? If not, say which URL was
tried and how to start it, instead of a traceback."""
from __future__ import annotations

import asyncio
import sys

from sqlalchemy.engine import make_url

from app.settings import Settings

HOW_TO_START = {
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": ('redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
              "--dir /var/lib/redis --logfile /var/log/redis/ci.log"),
    "rabbitmq": "rabbitmq-server -detached",
}


def _fail(name: str, url: str, error: Exception) -> None:
    print(f"error: cannot reach {name} at {url} ({type(error).__name__}: {error}).\n"
          f"Start it with:  {HOW_TO_START[name]}\n"
          f"or point the service elsewhere with the AUTH_* settings (see README).", file=sys.stderr)
    raise SystemExit(2)


def require_postgres(settings: Settings) -> None:
    import asyncpg

    url = make_url(settings.database.url)
    safe = url.render_as_string(hide_password=True)
    dsn = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)

    async def probe() -> None:
        conn = await asyncpg.connect(dsn, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as e:
        _fail("postgres", safe, e)


def require_redis(settings: Settings) -> None:
    import redis

    try:
        redis.Redis.from_url(settings.redis.url, socket_connect_timeout=3).ping()
    except redis.RedisError as e:
        _fail("redis", settings.redis.url, e)


def main() -> int:
    """``python -m app.preflight`` (``make run``, before ``migrate``): the services answer."""
    from pydantic import ValidationError

    from app.settings import ConfigFileError, describe_load_error, load_settings

    try:
        settings = load_settings()
    except (ValidationError, ConfigFileError) as e:
        lines = describe_load_error(e)
        if lines is None:
            raise
        for line in lines:
            print(f"invalid setting {line}", file=sys.stderr)
        return 2
    require_postgres(settings)
    require_redis(settings)
    if settings.broker_url.startswith("amqp"):
        from kombu import Connection

        try:
            with Connection(settings.broker_url, connect_timeout=3) as conn:
                conn.ensure_connection(max_retries=1)
        except Exception as e:  # kombu raises a variety of transport errors
            _fail("rabbitmq", settings.broker_url, e)
    print("postgres and redis are reachable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
