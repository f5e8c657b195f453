"""The audit writer and stream upkeep."""
from __future__ import annotations

from app.clock import now_s
from app.events.retention import StreamRetention
from app.taskqueue import AUDIT_DRAIN, STREAM_TRIM
from workers.celery_app import app, runtime, settings
from workers.tasks.retry import PERIODIC


@app.task(name=AUDIT_DRAIN, **PERIODIC)
def drain_audit() -> dict:
    """Copy new stream entries into audit_log (see app.audit.drain)."""
    async def work(services):
        report = await runtime.drain.drain(settings.workers.task_budget_s)
        return {"read": report.read, "inserted": report.inserted, "reclaimed": report.reclaimed,
                "dead_lettered": report.dead_lettered}
    return runtime.run(work)


@app.task(name=STREAM_TRIM, **PERIODIC)
def trim_stream() -> dict:
    """Drop entries past the retention that the audit group has acknowledged."""
    async def work(services):
        retention = StreamRetention(redis=services.redis, stream=settings.events.stream,
                                    audit_group=settings.events.audit_group,
                                    retention_s=settings.events.retention_s)
        report = await retention.trim(now_s(), budget_s=settings.workers.task_budget_s)
        dead = await retention.trim_dead_letters(now_s())
        pruned = await retention.prune_consumers()
        return {"trimmed": report.trimmed, "min_id": report.min_id, "dead_letters_trimmed": dead,
                "consumers_pruned": pruned}
    return runtime.run(work)
