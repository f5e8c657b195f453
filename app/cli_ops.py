"""What the CLI does, as plain async functions over the shared service graph."""
from __future__ import annotations

from app.errors import AuthError, NotFoundError
from app.preflight import require_postgres, require_redis
from app.services import build_services
from app.sessions.manager import ClientInfo
from app.settings import Settings

CLI_CLIENT = ClientInfo(ip="", user_agent="cli")


def preflight(settings: Settings) -> None:
    """Say which store is unreachable, or that the database needs `migrate`, before any event loop
    runs (the probes run their own)."""
    require_postgres(settings)
    require_redis(settings)


async def create_user(settings: Settings, email: str, password: str, roles: tuple[str, ...]) -> str:
    services = build_services(settings)
    try:
        async with services.sessionmaker() as session:
            if await services.users.by_email(session, email) is not None:
                raise SystemExit(f"a user with email {email} exists already")
        registered = await services.accounts.register(email, password, CLI_CLIENT, roles=roles)
        return registered.id
    except AuthError as e:
        raise SystemExit(f"{e.code}: {e.detail}") from e
    finally:
        await services.close()


async def grant_role(settings: Settings, email: str, role: str) -> None:
    services = build_services(settings)
    try:
        await services.accounts.grant_role_by_email(email, role, CLI_CLIENT)
    except NotFoundError as e:
        raise SystemExit(f"no user with email {email}") from e
    except AuthError as e:
        raise SystemExit(f"{e.code}: {e.detail}") from e
    finally:
        await services.close()
