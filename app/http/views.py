"""JSON shapes of replies shared by several routes."""
from __future__ import annotations

import json
from collections.abc import Callable, Hashable

from app.clock import rfc3339
from app.sessions.ids import csrf_token_for
from app.sessions.record import SessionRecord


def session_reply(*, user_id: str, email: str, roles: tuple[str, ...], record: SessionRecord,
                  session_id: str) -> dict:
    return {
        "user": {"id": user_id, "email": email, "roles": list(roles)},
        "session": {"handle": record.handle, "expires_at": rfc3339(record.absolute_expires_at),
                    "idle_expires_at": rfc3339(record.idle_expires_at)},
        "csrf_token": csrf_token_for(session_id),
    }


def session_item(record: SessionRecord, *, current: bool) -> dict:
    return {"handle": record.handle, "created_at": rfc3339(record.created_at),
            "last_seen_at": rfc3339(record.last_seen_at), "ip": record.ip,
            "user_agent": record.user_agent, "current": current}


class EncodedReplies:
    """JSON reply bodies encoded once per source object instead of once per request.

    A body stays valid for as long as the object it was built from is the one the
    caller holds: cached session records and token principals are replaced, never
    changed (a touch, a role change or a revocation yields a new object or none).
    So formatting dates, deriving a CSRF token and encoding JSON happen once per
    object on the hot routes.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._bodies: dict[Hashable, tuple[object, bytes]] = {}
        self._max_entries = max_entries

    def body(self, key: Hashable, source: object, build: Callable[[], dict]) -> bytes:
        hit = self._bodies.get(key)
        if hit is not None and hit[0] is source:
            return hit[1]
        body = json.dumps(build()).encode()
        if len(self._bodies) >= self._max_entries:
            self._bodies.clear()  # cheap and rare: the next requests rebuild what they need
        self._bodies[key] = (source, body)
        return body
