"""Exponential backoff with a hard block: the pure model the Lua script mirrors."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """After ``free`` failures each further attempt waits base * 2^(n - free), capped
    at ``max_delay_s``; at ``block_after`` failures (0: never) the counter refuses
    everything until it expires, ``window_s`` after its last failure."""

    free: int
    base_delay_s: float
    max_delay_s: float
    window_s: int
    block_after: int = 0

    def wait_s(self, failures: int, last_failure_at: float, now: float) -> float:
        """Seconds until the next attempt may be made (0: now)."""
        if failures <= 0:
            return 0.0
        if self.block_after and failures >= self.block_after:
            return max(0.0, last_failure_at + self.window_s - now)
        if failures < self.free:
            return 0.0
        delay = min(self.max_delay_s, self.base_delay_s * 2.0 ** (failures - self.free))
        return max(0.0, last_failure_at + delay - now)
