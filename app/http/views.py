"""JSON shapes of replies shared by several routes."""
from __future__ import annotations

import json

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


class SessionReplies:
    """Encoded ``GET /auth/session`` bodies, one per live session record.

    The reply is the same bytes for as long as the cached record object is the
    same (a touch, a role change or a revocation yields a new record or none),
    so formatting dates, deriving the CSRF token and encoding JSON happen once
    per record instead of once per request.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._bodies: dict[str, tuple[SessionRecord, bytes]] = {}
        self._max_entries = max_entries

    def body(self, record: SessionRecord, session_id: str) -> bytes:
        hit = self._bodies.get(record.sid_hash)
        if hit is not None and hit[0] is record:
            return hit[1]
        body = json.dumps(session_reply(user_id=record.user_id, email=record.email, roles=record.roles,
                                        record=record, session_id=session_id)).encode()
        if len(self._bodies) >= self._max_entries:
            self._bodies.clear()  # cheap and rare: the next requests rebuild what they need
        self._bodies[record.sid_hash] = (record, body)
        return body
