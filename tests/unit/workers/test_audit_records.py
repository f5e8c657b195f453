"""Stream entries that cannot be audit rows become MalformedEntry, never exceptions."""
from __future__ import annotations

import json
from datetime import UTC, datetime

from app.audit.records import MalformedEntry, audit_row
from app.events.envelope import Event


def test_an_envelope_becomes_a_row():
    e = Event("auth.logout", "u1", {"handle": "h"}, time=1_700_000_000.0)
    row = audit_row("1-0", {b"event": e.to_json("authsvc").encode()})
    assert row == {"event_id": e.id, "stream_id": "1-0", "type": "auth.logout", "subject": "u1",
                   "time": datetime.fromtimestamp(1_700_000_000, UTC), "source": "authsvc", "data": {"handle": "h"}}


def test_lua_empty_data_and_null_subject():
    raw = json.dumps({"id": "x", "type": "auth.a", "time": "2026-01-01T00:00:00Z", "source": "s",
                      "subject": None, "data": []})
    row = audit_row("2-0", {"event": raw})
    assert row["data"] == {} and row["subject"] is None


def test_malformed_entries():
    cases = [None, {}, {"other": "x"}, {"event": "{"}, {"event": "[]"},
             {"event": json.dumps({"id": "x", "type": "t", "source": "s"})},
             {"event": json.dumps({"id": "x", "type": "t", "source": "s", "time": "yesterday"})},
             {"event": json.dumps({"id": "x", "type": "t", "source": "s", "time": "2026-01-01T00:00:00"})},
             {"event": json.dumps({"id": "x" * 500, "type": "t", "source": "s", "time": "2026-01-01T00:00:00Z"})},
             {"event": json.dumps({"id": 5, "type": "t", "source": "s", "time": "2026-01-01T00:00:00Z"})},
             {"event": json.dumps({"id": "x", "type": "t", "source": "s", "time": "2026-01-01T00:00:00Z",
                                   "data": "str"})}]
    for fields in cases:
        result = audit_row("3-0", fields)
        assert isinstance(result, MalformedEntry), fields
        assert result.reason


def test_an_over_long_subject_is_malformed_not_a_row():
    """audit_log indexes (subject, time): a subject over a btree row (about 2.7 KB) would make
    Postgres refuse the insert, so it is capped like the other text fields."""
    base = {"id": "x", "type": "auth.a", "time": "2026-01-01T00:00:00Z", "source": "s"}
    for subject in ("u" * 201, "ab" * 3000, 10 ** 300):
        result = audit_row("4-0", {"event": json.dumps({**base, "subject": subject})})
        assert isinstance(result, MalformedEntry), subject
        assert "subject" in result.reason
    assert audit_row("4-0", {"event": json.dumps({**base, "subject": "u" * 200})})["subject"] == "u" * 200
    assert audit_row("4-0", {"event": json.dumps({**base, "subject": 42})})["subject"] == "42"
