"""Before running: is each backing service reachable, and is the database ready for this
version? If not, say which URL was tried and what to do (start it, or run ``python -m app
migrate``), in one sentence and exit status 2, instead of a traceback."""
from __future__ import annotations

import asyncio
import sys
from typing import NoReturn
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url

from app.settings import Settings, load_settings_or_exit

HOW_TO_START = {
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": ('redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
              "--dir /var/lib/redis --logfile /var/log/redis/ci.log"),
    "rabbitmq": "rabbitmq-server -detached",
}
MIGRATE = "run `python -m app migrate`"


def _fail(name: str, url: str, error: Exception) -> NoReturn:
    print(f"error: cannot reach {name} at {url} ({type(error).__name__}: {error}).\n"
          f"Start it with:  {HOW_TO_START[name]}\n"
          f"or point the service elsewhere with the AUTH_* settings (see README).", file=sys.stderr)
    raise SystemExit(2)


def _login_refused(name: str, setting: str, url: str, error: Exception) -> NoReturn:
    # The server is up: telling the operator to start it would send them the wrong way.
    print(f"error: {name} at {url} refused the login ({type(error).__name__}: {error}).\n"
          f"Fix the user or password in {setting}.", file=sys.stderr)
    raise SystemExit(2)


def _refuse(setting: str, problem: str) -> NoReturn:
    # Settings refuse such URLs at load already; this is for callers that built their own.
    print(f"invalid setting {setting}: {problem}", file=sys.stderr)
    raise SystemExit(2)


def _unprepared(problem: str) -> NoReturn:
    print(f"error: {problem}; {MIGRATE}", file=sys.stderr)
    raise SystemExit(2)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def require_postgres(settings: Settings, *, migrated: bool = True) -> None:
    """Postgres answers; with ``migrated``, the database exists and its schema is at this code's
    Alembic heads (what every command but ``migrate`` needs)."""
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(settings.database.url)
    except (ArgumentError, ValueError):
        _refuse("AUTH_DATABASE__URL", "database.url does not parse as a URL")
    safe = url.render_as_string(hide_password=True)
    if not migrated:
        # migrate creates the database: only the server must answer (through the maintenance database).
        _probe(url.set(database="postgres"), safe)
        return
    versions = _probe(url, safe)
    if versions is None:
        _unprepared(f"the database {url.database!r} does not exist on {safe.rsplit('/', 1)[0]}")
    if not versions:
        _unprepared(f"the database at {safe} has no tables of this service (no Alembic version)")
    _require_heads(url, safe, versions)


def _probe(url: URL, safe: str) -> set[str] | None:
    """The database's Alembic revisions (empty: none recorded), None if the database does not exist."""
    import asyncpg
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

    # Connect as the service's engine does: SQLAlchemy's asyncpg dialect turns the URL's query into
    # asyncpg.connect() keywords and keeps its own options (prepared_statement_cache_size, the
    # usual one behind pgbouncer). In an asyncpg DSN such an option was sent to the server as a
    # setting, so a URL the service runs with failed here as "cannot reach postgres".
    _, kwargs = PGDialect_asyncpg().create_connect_args(url)
    for own in ("prepared_statement_cache_size", "prepared_statement_name_func", "async_creator_fn"):
        kwargs.pop(own, None)
    kwargs.setdefault("timeout", 3)

    async def probe() -> set[str] | None:
        try:
            conn = await asyncpg.connect(**kwargs)
        except asyncpg.InvalidCatalogNameError:
            return None
        try:
            return {row[0] for row in await conn.fetch("SELECT version_num FROM alembic_version")}
        except asyncpg.UndefinedTableError:
            return set()
        finally:
            await conn.close()

    try:
        return asyncio.run(probe())
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError) as e:
        _login_refused("postgres", "AUTH_DATABASE__URL", safe, e)  # 28000 (no such role, pg_hba) and 28P01
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        _fail("postgres", safe, e)
    except TypeError as e:  # a query option asyncpg.connect() does not take: the service fails the same way
        _refuse("AUTH_DATABASE__URL", f"database.url has an option asyncpg does not take ({e})")


def _require_heads(url: URL, safe: str, versions: set[str]) -> None:
    from alembic.script import ScriptDirectory

    from app.db.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config(url.render_as_string(hide_password=False)))
    heads = set(script.get_heads())
    known = {revision.revision for revision in script.walk_revisions()}
    if versions - known:
        # A newer release migrated it (a rollback, a rolling deploy): its tables are a superset
        # as far as this code knows; say so and carry on.
        print(f"warning: the database at {safe} is at revision {', '.join(sorted(versions - known))}, "
              f"which this version of authsvc does not know (a newer one migrated it?)", file=sys.stderr)
        return
    if versions != heads:
        _unprepared(f"the database at {safe} is at revision {', '.join(sorted(versions))}, "
                    f"behind this version's {', '.join(sorted(heads))}")


def require_redis(settings: Settings) -> None:
    import redis

    safe = _without_password(settings.redis.url)
    try:
        client = redis.Redis.from_url(settings.redis.url, socket_connect_timeout=3)
    except (ValueError, TypeError):
        _refuse("AUTH_REDIS__URL", "redis.url must be a redis://, rediss:// or unix:// URL")
    try:
        client.ping()
    except redis.AuthenticationError as e:  # WRONGPASS, or a password where none is set
        _login_refused("redis", "AUTH_REDIS__URL", safe, e)
    except redis.RedisError as e:
        _fail("redis", safe, e)
    except TypeError:  # an option in the URL's query that redis-py does not take
        _refuse("AUTH_REDIS__URL", "redis.url has an option redis-py does not know")
    finally:
        client.close()


def main() -> int:
    """``python -m app.preflight`` (``make run``, before ``migrate``): the services answer."""
    settings = load_settings_or_exit()
    require_postgres(settings, migrated=False)
    require_redis(settings)
    if settings.broker_url.startswith("amqp"):
        from amqp.exceptions import AccessRefused
        from kombu import Connection

        try:
            with Connection(settings.broker_url, connect_timeout=3) as conn:
                conn.ensure_connection(max_retries=1)
        except AccessRefused as e:
            _login_refused("rabbitmq", "AUTH_BROKER__URL", _without_password(settings.broker_url), e)
        except Exception as e:  # kombu raises a variety of transport errors
            _fail("rabbitmq", _without_password(settings.broker_url), e)
    print("postgres and redis are reachable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
