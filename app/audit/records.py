"""Stream entry -> audit row. An entry that cannot be read is a ``MalformedEntry``,
never an exception that would block the rest of its batch."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.events.publisher import STREAM_FIELD

REQUIRED = ("id", "type", "time", "source")
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class MalformedEntry:
    stream_id: str
    raw: str
    reason: str


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _field(fields: dict | None) -> Any:
    if not fields:
        return None
    return fields.get(STREAM_FIELD.encode(), fields.get(STREAM_FIELD))


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("time without a zone")
    return parsed


def audit_row(stream_id: str, fields: dict | None) -> dict[str, Any] | MalformedEntry:
    """The audit_log row for one stream entry (keys are AuditRecord columns)."""
    raw = _field(fields)
    if raw is None:
        return MalformedEntry(stream_id, "", f"no '{STREAM_FIELD}' field")
    try:
        raw = text(raw)
    except UnicodeDecodeError:
        return MalformedEntry(stream_id, raw.decode("utf-8", errors="replace"), "not UTF-8")
    try:
        envelope = json.loads(raw)
    except ValueError:
        return MalformedEntry(stream_id, raw, "not JSON")
    if not isinstance(envelope, dict):
        return MalformedEntry(stream_id, raw, "not a JSON object")
    missing = [k for k in REQUIRED if not isinstance(envelope.get(k), str) or not envelope[k]]
    if missing:
        return MalformedEntry(stream_id, raw, "missing " + ", ".join(missing))
    if any(len(envelope[k]) > MAX_TEXT for k in REQUIRED):
        return MalformedEntry(stream_id, raw, f"a field is longer than {MAX_TEXT} characters")
    try:
        time = parse_time(envelope["time"])
    except ValueError:
        return MalformedEntry(stream_id, raw, "time is not RFC 3339")
    data = envelope.get("data")
    # Lua's cjson encodes an empty table as [], not {}.
    if data is None or data == []:
        data = {}
    if not isinstance(data, dict):
        return MalformedEntry(stream_id, raw, "data is not an object")
    subject = envelope.get("subject")
    if subject is not None:
        subject = str(subject)
        # Indexed with time (audit_log_subject_time): an over-long one would be refused by
        # Postgres (index row size, SQLSTATE 54000) instead of being read here.
        if len(subject) > MAX_TEXT:
            return MalformedEntry(stream_id, raw, f"subject is longer than {MAX_TEXT} characters")
    return {
        "event_id": envelope["id"], "stream_id": stream_id, "type": envelope["type"],
        "subject": subject, "time": time,
        "source": envelope["source"], "data": data,
    }
