"""JSON shapes of replies shared by several routes."""
from __future__ import annotations

import json
from collections.abc import Callable, Hashable

from app.clock import rfc3339
from app.http.memo import SourceMemo
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


class EncodedReplies(SourceMemo[bytes]):
    """JSON reply bodies encoded once per source object (a cached session record, a
    token's principal): dates, the CSRF token and the JSON are made once per object
    on the hot routes instead of once per request."""

    def body(self, key: Hashable, source: object, build: Callable[[], dict]) -> bytes:
        return self.get(key, source, lambda: json.dumps(build()).encode())
