"""``python -m app events tail``: print the event stream, one JSON envelope per line."""
from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys

from redis.exceptions import RedisError

from app.settings import Settings, load_settings

DEFAULT_GROUP = "events-tail"
DEFAULT_CLAIM_IDLE_S = 60.0


def _claim_idle_s(text: str) -> float:
    # argparse turns this into "argument --claim-idle-s: ..." and exit status 2.
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(seconds) and seconds > 0):
        # 0 would take entries other tails are printing right now, every time.
        raise argparse.ArgumentTypeError(f"must be a number of seconds greater than 0, not {text!r}")
    return seconds


def _consumer(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def register_events(sub) -> None:
    events = sub.add_parser("events", help="read the event stream")
    commands = events.add_subparsers(dest="events_command", required=True)
    p = commands.add_parser(
        "tail", help="print events as JSON lines through a consumer group (resumes where it left off)")
    p.add_argument("--group", default=DEFAULT_GROUP,
                   help=f"consumer group; each group sees every event once (default {DEFAULT_GROUP})")
    p.add_argument("--from-start", action="store_true",
                   help="start (or restart) the group at the oldest event kept instead of new ones")
    p.add_argument("--consumer", type=_consumer, default=None, metavar="NAME",
                   help="consumer name within the group (default: this host's name, so a restarted "
                        "tail gets back at once what it was given and did not acknowledge); give "
                        "two tails of one group on one host different names")
    p.add_argument("--claim-idle-s", type=_claim_idle_s, default=DEFAULT_CLAIM_IDLE_S, metavar="SECONDS",
                   help="take over entries another consumer of the group was given and has not "
                        "acknowledged for this long (it is presumably gone); longer than any tail "
                        f"takes to print a batch (default {DEFAULT_CLAIM_IDLE_S:g})")
    p.set_defaults(func=_tail)


def _tail(args: argparse.Namespace) -> int:
    from app.preflight import require_redis

    settings = load_settings()
    if args.group == settings.events.audit_group:
        # Its entries would be acknowledged here and never reach audit_log.
        print(f"events tail: {args.group!r} is the audit writer's consumer group "
              f"(events.audit_group); tail through a group of its own", file=sys.stderr)
        return 2
    require_redis(settings)
    try:
        return asyncio.run(tail(settings, group=args.group, from_start=args.from_start, out=sys.stdout,
                                consumer=args.consumer, claim_idle_s=args.claim_idle_s))
    except KeyboardInterrupt:
        return 0  # Ctrl-C before the handler was installed: stopping is the normal way out
    except BrokenPipeError:
        return 0  # the reader went away (| head): nothing left to do
    except RedisError as e:
        print(f"events tail: Redis failed ({type(e).__name__}: {e})", file=sys.stderr)
        return 1


async def tail(settings: Settings, *, group: str, from_start: bool, out, consumer: str | None = None,
               claim_idle_s: float = DEFAULT_CLAIM_IDLE_S) -> int:
    from app.events.tail import StreamTail
    from app.services import make_redis

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    redis = make_redis(settings)
    reader = StreamTail(redis=redis, stream=settings.events.stream, group=group, consumer=consumer,
                        claim_idle_s=claim_idle_s)
    try:
        await reader.join(from_start=from_start)
        async for batch in reader.batches():
            for _, line in batch:
                out.write(line + "\n")
            out.flush()
            # Acknowledged only once printed: Ctrl-C between the two shows them again.
            await reader.ack([stream_id for stream_id, _ in batch])
            if stop.is_set():
                break
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await redis.aclose()
    return 0
