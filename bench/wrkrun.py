"""Load from a separate process: wrk with fixed connections and duration, parsed."""
from __future__ import annotations

import re
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


@dataclass
class Series:
    """Several rounds of one measurement: medians with min and max."""

    rounds: list[WrkResult] = field(default_factory=list)

    def values(self, attr: str) -> list[float]:
        """One value per round, in the order the rounds ran."""
        return [getattr(r, attr) for r in self.rounds]

    def median(self, attr: str) -> float:
        return statistics.median(self.values(attr))

    def span(self, attr: str) -> tuple[float, float]:
        v = self.values(attr)
        return min(v), max(v)

    @property
    def error_share(self) -> float:
        total = sum(r.requests for r in self.rounds) or 1
        return sum(r.non_2xx + r.socket_errors for r in self.rounds) / total


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse(out: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return WrkResult(rps=rps, p50_ms=p50, p99_ms=p99, requests=requests,
                     non_2xx=int(non2xx.group(1)) if non2xx else 0,
                     socket_errors=sum(int(g) for g in sock.groups()) if sock else 0)


def wrk(url: str, *, duration_s: float, connections: int, threads: int = 1, script: str | None = None,
        env: dict[str, str] | None = None) -> WrkResult:
    """One wrk run; ``script`` names a file in bench/lua, configured through ``env``."""
    import os

    # wrk takes whole seconds only ("-d0.5s" is a usage error).
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--latency", "--timeout", "10s"]
    if script:
        argv += ["-s", str(LUA_DIR / script)]
    argv.append(url)
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=duration_s + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return parse(proc.stdout)


def rounds(n: int, url: str, *, warmup_s: float = 1.0, **kw) -> Series:
    """A short warm-up (discarded), then ``n`` rounds."""
    wrk(url, **{**kw, "duration_s": warmup_s})
    return Series([wrk(url, **kw) for _ in range(n)])
