"""JSON shapes of replies shared by several routes."""
from __future__ import annotations

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
