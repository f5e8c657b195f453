"""Event envelopes: ids are random version-4 UUIDs; times are RFC 3339 UTC seconds."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from app.clock import rfc3339
from app.events.envelope import Event, new_event_id


def test_event_ids_are_distinct_version_4_uuids() -> None:
    ids = {new_event_id() for _ in range(20_000)}
    assert len(ids) == 20_000
    for value in list(ids)[:2_000]:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == value


@pytest.mark.parametrize("ts", [0.0, 1.999999, 1764409000.5, 1764409059.999, 4102444800.25, -0.5])
def test_times_are_utc_seconds_truncated(ts: float) -> None:
    expected = datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    assert rfc3339(ts) == expected and rfc3339(ts).endswith("Z")


def test_an_envelope_is_compact_cloudevents_json() -> None:
    event = Event("auth.login.succeeded", "user-1", {"method": "password", "ip": "203.0.113.9"}, time=1764409000.7)
    text = event.to_json("authsvc")
    assert ", " not in text and ": " not in text
    assert json.loads(text) == {"specversion": "1.0", "id": event.id, "source": "authsvc",
                                "type": "auth.login.succeeded", "time": "2025-11-29T09:36:40Z",
                                "subject": "user-1", "datacontenttype": "application/json",
                                "data": {"method": "password", "ip": "203.0.113.9"}}


def test_secrets_never_enter_an_event() -> None:
    with pytest.raises(ValueError):
        Event("auth.login.succeeded", "user-1", {"password": "hunter2"})
