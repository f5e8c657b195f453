"""Command line: python -m app <command> (each with --help)."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from pydantic import ValidationError

from app.settings import ConfigFileError, describe_load_error, load_settings, report_invalid_settings


def _port(text: str) -> int:
    # argparse turns this into "argument --port: ..." and exit status 2. Without it, 70000 was
    # announced as :70000 while the socket took 70000 & 0xFFFF.
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0 to 65535; 0: any free port)")
    return port


def _process_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (one process per core) or more, not {count}")
    return count


def _serve(args: argparse.Namespace) -> int:
    from app.preflight import require_postgres, require_redis
    from app.runner import serve

    settings = load_settings()
    if args.workers is not None:
        settings.http.workers = args.workers
    # Once, before any process starts: a missing or unmigrated database is a sentence, not a
    # traceback per process (the signing keys are read from Postgres at start).
    require_postgres(settings)
    require_redis(settings)
    # "is not None": --port 0 (any free port) and --host "" are choices too.
    return serve(settings, host=args.host if args.host is not None else settings.http.host,
                 port=args.port if args.port is not None else settings.http.port)


def _migrate(args: argparse.Namespace) -> int:
    from app.db.migrate import upgrade
    from app.preflight import require_postgres

    settings = load_settings()
    require_postgres(settings, migrated=False)  # migrate is what makes it so
    upgrade(settings.database.url)
    print("database is at the latest revision")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise SystemExit("the passwords differ")
    return first


def _create_user(args: argparse.Namespace) -> int:
    from app.cli_ops import create_user, preflight

    settings = load_settings()
    preflight(settings)
    password = _read_password(args)
    user_id = asyncio.run(create_user(settings, args.email, password, tuple(args.role or ())))
    print(user_id)
    return 0


def _grant_role(args: argparse.Namespace) -> int:
    from app.cli_ops import grant_role, preflight

    settings = load_settings()
    preflight(settings)
    asyncio.run(grant_role(settings, args.email, args.role))
    print(f"granted {args.role} to {args.email}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="authsvc: sessions, tokens, authorization")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the web process")
    p.add_argument("--host")
    p.add_argument("--port", type=_port, help="0: any free port (one process only)")
    p.add_argument("--workers", type=_process_count, help="web processes sharing the port (0: one per core)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("migrate", help="create the database if needed and apply every migration")
    p.set_defaults(func=_migrate)

    p = sub.add_parser("create-user", help="create a user (e.g. the first admin)")
    p.add_argument("email")
    p.add_argument("--role", action="append", help="grant this role (repeatable)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=_create_user)

    p = sub.add_parser("grant-role", help="grant a role to a user")
    p.add_argument("email")
    p.add_argument("role")
    p.set_defaults(func=_grant_role)

    from app.cli_ext import command_registrars

    for register in command_registrars():
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValidationError, ConfigFileError) as e:
        lines = describe_load_error(e)
        if lines is None:
            raise  # not the settings: a bug, keep its traceback
        # Every command loads the settings first; an operator's typo deserves a sentence.
        report_invalid_settings(lines)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
