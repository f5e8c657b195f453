"""CLI: ``keys rotate`` and ``create-client NAME [--role R]``."""
from __future__ import annotations

import argparse
import asyncio

from app.settings import Settings, load_settings
from app.tokens.keyring import KEYS_MESSAGE


async def rotate_keys(settings: Settings) -> str:
    """Add a signing key and tell every web process; returns the new kid."""
    from app.cli_ops import CLI_CLIENT
    from app.services import build_services

    services = build_services(settings)
    try:
        kid = await services.tokens.keyring.rotate(CLI_CLIENT.context())
        await services.redis.publish(services.session_store.keys.channel, KEYS_MESSAGE)
        return kid
    finally:
        await services.close()


async def create_client(settings: Settings, name: str, roles: tuple[str, ...]):
    from app.cli_ops import CLI_CLIENT
    from app.services import build_services

    services = build_services(settings)
    try:
        return await services.clients.create(name, roles, CLI_CLIENT)
    finally:
        await services.close()


def _keys(args: argparse.Namespace) -> int:
    from app.cli_ops import preflight

    settings = load_settings()
    preflight(settings)
    kid = asyncio.run(rotate_keys(settings))
    t = settings.tokens
    print(f"new signing key {kid} ({t.algorithm}); older keys stay in the JWKS for "
          f"{t.access_ttl_s + t.leeway_s + int(t.keys_reload_s)} s")
    return 0


def _create_client(args: argparse.Namespace) -> int:
    from app.cli_ops import preflight
    from app.errors import AuthError

    settings = load_settings()
    preflight(settings)
    try:
        created = asyncio.run(create_client(settings, args.name, tuple(args.role or ())))
    except AuthError as e:
        raise SystemExit(f"{e.code}: {e.detail}") from e
    print(f"client_id: {created.client_id}")
    print(f"secret:    {created.secret}")
    print("The secret is shown only this once; store it now.")
    return 0


def register_keys(sub) -> None:
    p = sub.add_parser("keys", help="manage token signing keys")
    keys_sub = p.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser("rotate", help="add a new signing key (old public keys stay published "
                                                "until their tokens expire)")
    rotate.set_defaults(func=_keys)


def register_create_client(sub) -> None:
    p = sub.add_parser("create-client", help="create an API client (HTTP Basic); prints the secret once")
    p.add_argument("name")
    p.add_argument("--role", action="append", help="grant this role (repeatable)")
    p.set_defaults(func=_create_client)
