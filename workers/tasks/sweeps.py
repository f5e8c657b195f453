"""Expiry sweeps: sessions and the token revocation list."""
from __future__ import annotations

import logging

from app.clock import now_s
from app.sessions.sweep import SessionSweeper
from app.taskqueue import REVOCATION_SWEEP, SESSION_SWEEP
from workers.celery_app import app, runtime, settings
from workers.tasks.retry import PERIODIC

log = logging.getLogger("workers.sweeps")


@app.task(name=SESSION_SWEEP, **PERIODIC)
def sweep_sessions() -> dict:
    """End sessions past their deadlines, in bounded batches (see app.sessions.sweep)."""
    async def work(services):
        sweeper = SessionSweeper(store=services.session_store, batch_size=settings.workers.sweep_batch_size)
        report = await sweeper.sweep(settings.workers.task_budget_s)
        return {"batches": report.batches, "looked_at": report.looked_at, "ended": report.ended}
    return runtime.run(work)


@app.task(name=REVOCATION_SWEEP, **PERIODIC)
def sweep_revocations() -> dict:
    """Purge revocation-list entries whose tokens expired (the tokens package owns the list)."""
    async def work(services):
        tokens = getattr(services, "tokens", None)
        if tokens is None or not hasattr(tokens, "sweep_revocations"):
            log.debug("no token service in this build; nothing to sweep")
            return {"purged": 0, "skipped": True}
        return {"purged": int(await tokens.sweep_revocations(now_s())), "skipped": False}
    return runtime.run(work)
