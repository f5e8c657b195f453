"""Wall-clock helpers; one place so tests and domain code agree on units."""
from __future__ import annotations

import functools
import math
import time
from datetime import UTC, datetime


def now_s() -> float:
    return time.time()


def rfc3339(ts: float) -> str:
    """UTC, to the second (truncated), with a ``Z``."""
    return _rfc3339_second(math.floor(ts))


@functools.lru_cache(maxsize=1024)  # every event and session reply formats the current second
def _rfc3339_second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).isoformat().replace("+00:00", "Z")
