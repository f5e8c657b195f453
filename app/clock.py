"""Wall-clock helpers; one place so tests and domain code agree on units."""
from __future__ import annotations

import time
from datetime import UTC, datetime


def now_s() -> float:
    return time.time()


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
