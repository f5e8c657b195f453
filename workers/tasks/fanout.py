"""Forced-logout fan-out (admin logout, account disable, password change)."""
from __future__ import annotations

from app.taskqueue import FORCED_LOGOUT
from workers.celery_app import app, runtime
from workers.tasks.retry import ONE_OFF


@app.task(name=FORCED_LOGOUT, **ONE_OFF)
def forced_logout(user_id: str, epoch: float, reason: str) -> dict:
    """Delete the user's sessions, revoke their tokens, notify web processes (idempotent)."""
    async def work(services):
        report = await services.forced_logout.fan_out(user_id, epoch, reason,
                                                      tokens=getattr(services, "tokens", None))
        return {"sessions_ended": report.sessions_ended, "tokens_revoked": report.tokens_revoked}
    return runtime.run(work)
