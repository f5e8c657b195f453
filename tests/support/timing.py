"""Timing comparisons that hold on a noisy 2-core machine: interleave the cases
(noise hits them alike), compare medians, and scale the tolerance to the cost of
one argon2 verify, which is what a missing dummy hash would show up as."""
from __future__ import annotations

import asyncio
import statistics
import time

from app.passwords.hasher import Argon2Hasher


def argon2_verify_s(settings) -> float:
    pw = settings.password
    hasher = Argon2Hasher(time_cost=pw.time_cost, memory_kib=pw.memory_kib, parallelism=pw.parallelism)
    encoded = hasher.hash_sync("x" * 20)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        hasher.verify_sync(encoded, "y" * 20)
        times.append(time.perf_counter() - start)
    hasher.close()
    return statistics.median(times)


async def interleaved(cases: dict, rounds: int) -> tuple[dict[str, float], dict[str, list]]:
    """{name: median seconds}, {name: [(status, body, headers)]} over ``rounds`` round-robin tries."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    seen: dict[str, list] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, factory in cases.items():
            start = time.perf_counter()
            reply = await factory()
            body = await reply.read()
            times[name].append(time.perf_counter() - start)
            seen[name].append((reply.status, body, reply.headers))
    return {name: statistics.median(t) for name, t in times.items()}, seen


async def medians_agree(cases: dict, settings, *, rounds: int = 11, tolerance: float = 0.5,
                        attempts: int = 3) -> tuple[dict[str, float], dict[str, list], float]:
    """Measure until the medians of every case lie within ``tolerance`` argon2 verifies
    of each other (at most ``attempts`` times). A real leak -- a path that skips or
    adds a hash -- differs by a whole verify every time, so retrying a noisy
    measurement cannot hide it; a burst of load from a neighbour can only fail one."""
    await interleaved(cases, 1)  # warm every path
    for _ in range(attempts):
        verify = argon2_verify_s(settings)
        medians, seen = await interleaved(cases, rounds)
        if max(medians.values()) - min(medians.values()) < tolerance * verify:
            break
    return medians, seen, verify


async def first_answer_within(status_of, want: int, seconds: float) -> float:
    """When (seconds after the call) the first request that answered ``want`` was sent.

    ``status_of``: a coroutine function making one request and returning its status. Invariant 1
    bounds propagation, not a request's own round trip: a request sent before ``seconds`` may
    still get the old answer, and a slow reply to one sent in time is no violation. So this
    polls until one answers ``want`` and fails only if one sent at or after ``seconds`` did not."""
    start = time.perf_counter()
    while True:
        sent = time.perf_counter() - start
        if await status_of() == want:
            return sent
        if sent >= seconds:
            raise AssertionError(f"a request sent {sent * 1000:.1f} ms after the change did not answer {want}")
        await asyncio.sleep(0.002)
