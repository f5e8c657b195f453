"""Where the CPU went during a measurement: the server processes' threads and Redis.

A ratio says how far a figure is from its baseline; this says why, from the same run:
each server runs in its own process group (procs.Proc), so its threads are read from
/proc by group, the main threads (the event loops) apart from the others (the argon2
pool), and Redis reports its own CPU in INFO.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import redis

TICKS = os.sysconf("SC_CLK_TCK")


def _group_threads(pgid: int) -> tuple[float, float]:
    """CPU seconds so far of the group's (main threads, other threads)."""
    main = other = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            for task in (proc / "task").iterdir():
                t = (task / "stat").read_text().rsplit(")", 1)[1].split()
                seconds = (int(t[11]) + int(t[12])) / TICKS
                if task.name == proc.name:
                    main += seconds
                else:
                    other += seconds
        except (OSError, IndexError, ValueError):
            continue  # a process or thread that ended meanwhile
    return main, other


def _redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


@dataclass
class CpuUse:
    """CPU seconds used over ``elapsed_s`` of wall time."""

    elapsed_s: float
    main_s: float
    other_s: float
    redis_s: float

    def cores(self, seconds: float) -> float:
        return seconds / self.elapsed_s


class CpuMeter:
    """``with CpuMeter(pgid, redis_url) as m: ...`` then ``m.use``."""

    def __init__(self, pgid: int, redis_url: str) -> None:
        self.pgid = pgid
        self.redis = redis.Redis.from_url(redis_url)
        self.use: CpuUse | None = None

    def __enter__(self) -> "CpuMeter":
        self._t0 = time.monotonic()
        self._threads0 = _group_threads(self.pgid)
        self._redis0 = _redis_cpu(self.redis)
        return self

    def __exit__(self, *exc) -> None:
        elapsed = time.monotonic() - self._t0
        main, other = _group_threads(self.pgid)
        redis_s = _redis_cpu(self.redis) - self._redis0
        self.redis.close()
        self.use = CpuUse(elapsed, main - self._threads0[0], other - self._threads0[1], redis_s)
