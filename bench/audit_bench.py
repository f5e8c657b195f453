"""Audit pipeline benchmark: events from the Redis stream into Postgres through a real
Celery worker (prefork, 2 processes) and beat, as the Procfile runs them.

Two figures:
- throughput: N events already in the stream, drained by two concurrent drain tasks
  (the worker's two processes, one consumer each); events/s = N / time until the
  audit group has acknowledged all of them.
- lag: events written at a steady rate while beat triggers the drain at its default
  interval; lag = audit_log.received_at (the inserting transaction's start) minus the
  time the producer wrote the event (carried in its data). p50/p99 over every event.

Run alone: ``.venv/bin/python bench/audit_bench.py [N]`` (Redis, Postgres as in the tests),
or through ``make bench`` (harness.fig_audit).
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP_ROOT = Path(os.environ.get("BENCH_APP_ROOT", HERE.parent))
CELERY = str(Path(sys.executable).with_name("celery"))

LAG_RATE_PER_S = int(os.environ.get("BENCH_AUDIT_RATE", 1000))
LAG_SECONDS = float(os.environ.get("BENCH_AUDIT_LAG_S", 10))


def _env(prefix: str, redis_url: str, db_url: str, **extra: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_")}
    env.update({
        "AUTH_DATABASE__URL": db_url, "AUTH_REDIS__URL": redis_url, "AUTH_REDIS__KEY_PREFIX": prefix,
        "AUTH_EVENTS__STREAM": f"{prefix}:events", "AUTH_WORKERS__QUEUE": f"{prefix}-q",
        "PYTHONPATH": str(APP_ROOT),
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


class _Celery:
    def __init__(self, kind: str, env: dict[str, str], *args: str) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix=f"audit-bench-{kind}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([CELERY, "-A", "workers", kind, "--loglevel=WARNING", *args], env=env,
                                     cwd=APP_ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


def _event(i: int, source: str, run_id: str) -> str:
    from app.events.envelope import Event

    return Event("auth.login.succeeded", f"{run_id}-{i % 1000}",
                 {"method": "password", "ip": "192.0.2.1", "user_agent": "bench", "sent_at": time.time()}
                 ).to_json(source)


async def _caught_up(redis, stream: str, group: str, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
        except Exception:  # noqa: BLE001 - the stream is being created
            groups = {}
        g = groups.get(group.encode()) or groups.get(group)
        if g is not None and g["lag"] == 0 and g["pending"] == 0:
            return time.monotonic()
        await asyncio.sleep(0.01)
    raise TimeoutError("the audit group did not catch up")


async def _measure(n: int, prefix: str, redis_url: str, db_url: str) -> dict:
    import asyncpg
    from redis.asyncio import Redis

    from app.events.envelope import Event
    from app.settings import Settings
    from app.taskqueue import AUDIT_DRAIN, TaskQueue

    settings = Settings(database={"url": db_url}, redis={"url": redis_url, "key_prefix": prefix},
                        events={"stream": f"{prefix}:events"}, workers={"queue": f"{prefix}-q"})
    stream, group, source = settings.events.stream, settings.events.audit_group, settings.events.source
    redis = Redis.from_url(redis_url)
    queue = TaskQueue(settings)
    pg = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    worker = _Celery("worker", _env(prefix, redis_url, db_url), "--pool=prefork", "--concurrency=2",
                     "--without-mingle", "--without-gossip", "--without-heartbeat", "-n", f"{prefix}@%h")
    beat = None
    try:
        # Throughput: a backlog of n events, then two drains at once.
        run_id = f"tp-{uuid.uuid4().hex[:8]}"
        for start in range(0, n, 5000):
            async with redis.pipeline(transaction=False) as pipe:
                for i in range(start, min(n, start + 5000)):
                    pipe.xadd(stream, {"event": _event(i, source, run_id)})
                await pipe.execute()
        await asyncio.sleep(3)  # the worker's start-up is not part of the figure
        begun = time.monotonic()
        await asyncio.gather(queue.send(AUDIT_DRAIN, {}), queue.send(AUDIT_DRAIN, {}))
        finished = await _caught_up(redis, stream, group, timeout_s=600)
        rows = await pg.fetchval("SELECT count(*) FROM audit_log WHERE subject LIKE $1", f"{run_id}-%")
        events_per_s = n / (finished - begun)

        # Lag: a steady producer while beat drives the drain at its default interval.
        beat_schedule = Path(tempfile.mkdtemp()) / "beat-schedule"
        beat = _Celery("beat", _env(prefix, redis_url, db_url), f"--schedule={beat_schedule}")
        await asyncio.sleep(2)
        marker = f"lag-{uuid.uuid4().hex[:8]}"
        total = int(LAG_RATE_PER_S * LAG_SECONDS)
        tick = 0.01
        per_tick = max(1, int(LAG_RATE_PER_S * tick))
        t0 = time.monotonic()
        sent = 0
        while sent < total:
            async with redis.pipeline(transaction=False) as pipe:
                for _ in range(min(per_tick, total - sent)):
                    pipe.xadd(stream, {"event": Event("auth.session.created", marker,
                                                      {"sent_at": time.time(), "handle": "bench"}).to_json(source)})
                    sent += 1
                await pipe.execute()
            await asyncio.sleep(max(0.0, t0 + tick * (sent / per_tick) - time.monotonic()))
        await _caught_up(redis, stream, group, timeout_s=120)
        lags = [r["lag"] for r in await pg.fetch(
            "SELECT extract(epoch FROM received_at) - (data->>'sent_at')::float8 AS lag "
            "FROM audit_log WHERE subject = $1", marker)]
        lags.sort()
        return {
            "events": n, "rows_written": rows, "events_per_s": events_per_s,
            "lag_events": len(lags), "lag_rate_per_s": LAG_RATE_PER_S,
            "lag_p50_s": statistics.median(lags), "lag_p99_s": lags[int(0.99 * (len(lags) - 1))],
            "lag_max_s": lags[-1], "drain_interval_s": settings.workers.audit_drain_interval_s,
        }
    finally:
        if beat is not None:
            beat.stop()
        worker.stop()
        queue.close()
        await pg.close()
        keys = [k async for k in redis.scan_iter(f"{prefix}*", count=5000)]
        for i in range(0, len(keys), 500):
            await redis.delete(*keys[i:i + 500])
        await redis.aclose()


def run(n: int, *, prefix: str, redis_url: str, db_url: str) -> dict:
    """The harness entry point: returns events_per_s, lag_p99_s and the rest."""
    return asyncio.run(_measure(n, f"{prefix}-audit", redis_url, db_url))


if __name__ == "__main__":
    sys.path.insert(0, str(APP_ROOT))
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    db = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/auth_audit_bench")
    from app.db.migrate import upgrade

    upgrade(db)
    out = run(count, prefix=f"authbench-{os.getpid()}", redis_url=os.environ.get("BENCH_REDIS_URL",
                                                                                 "redis://127.0.0.1:6379/0"),
              db_url=db)
    print(json.dumps(out, indent=2))
