"""CLI commands contributed by feature packages. Each registrar adds one
subparser with ``set_defaults(func=...)``; add a feature's registrar here."""
from __future__ import annotations

from collections.abc import Callable


def command_registrars() -> list[Callable]:
    from app.events.cli import register_events

    from app.tokens.cli import register_create_client, register_keys

    registrars: list[Callable] = [register_events, register_keys, register_create_client]
    return registrars
