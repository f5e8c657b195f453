"""The outbox relay: events of Postgres changes whose web request died before relaying them."""
from __future__ import annotations

import time

from app.taskqueue import OUTBOX_RELAY
from workers.celery_app import app, runtime, settings
from workers.tasks.retry import PERIODIC


@app.task(name=OUTBOX_RELAY, **PERIODIC)
def relay_outbox() -> dict:
    """Publish committed outbox rows older than outbox_min_age_s (younger ones are
    still the web request's to relay), batch by batch within the task budget."""
    async def work(services):
        w = settings.workers
        deadline = time.monotonic() + w.task_budget_s
        relayed = 0
        while time.monotonic() < deadline:
            n = await services.relay.relay(limit=w.batch_size, older_than_s=w.outbox_min_age_s)
            relayed += n
            if n < w.batch_size:
                break
        return {"relayed": relayed}
    return runtime.run(work)
