"""Latency probes run as their own process (their own CPU time slice and event loop).

  ping --redis URL             PING in a tight loop until SIGTERM; prints max/p99/p50 in ms
  http --url U --header H:V    one sequential GET at a time for --seconds, with --gap-ms between;
                               prints p50/p99/max in ms and the status counts
"""
from __future__ import annotations

import argparse
import json
import signal
import statistics
import time

_stop = False


def _on_term(signum, frame) -> None:
    global _stop
    _stop = True


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def ping(url: str, max_s: float) -> dict:
    import redis

    r = redis.Redis.from_url(url)
    r.ping()
    lat: list[float] = []
    deadline = time.monotonic() + max_s
    while not _stop and time.monotonic() < deadline:
        t0 = time.perf_counter()
        r.ping()
        lat.append((time.perf_counter() - t0) * 1000)
    return {"n": len(lat), "max_ms": max(lat), "p99_ms": pct(lat, 0.99), "p50_ms": pct(lat, 0.5)}


def http(url: str, header: str, seconds: float, gap_ms: float) -> dict:
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    name, _, value = header.partition(":")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    lat: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    while not _stop and time.monotonic() < deadline:
        t0 = time.perf_counter()
        conn.request("GET", u.path, headers={name.strip(): value.strip()})
        resp = conn.getresponse()
        resp.read()
        lat.append((time.perf_counter() - t0) * 1000)
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
        time.sleep(gap_ms / 1000)
    return {"n": len(lat), "p50_ms": statistics.median(lat), "p99_ms": pct(lat, 0.99), "max_ms": max(lat),
            "statuses": statuses}


def main() -> None:
    signal.signal(signal.SIGTERM, _on_term)
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["ping", "http"])
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--url")
    ap.add_argument("--header", default="X-None: 1")
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--gap-ms", type=float, default=2.0)
    a = ap.parse_args()
    out = ping(a.redis, a.seconds) if a.kind == "ping" else http(a.url, a.header, a.seconds, a.gap_ms)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
