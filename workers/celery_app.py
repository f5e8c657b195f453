"""The Celery application of ``celery -A workers worker`` and ``celery -A workers beat``.

Configured from ``app.settings`` like everything else (``AUTH_*`` variables):
the broker is ``settings.broker_url`` (Redis unless ``AUTH_BROKER__URL`` names
RabbitMQ), tasks go to ``settings.workers.queue``, and the schedule comes from
``workers.schedule.beat_schedule``.
"""
from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown, worker_shutdown

from app.settings import load_settings
from app.taskqueue import celery_config
from workers.runtime import WorkerRuntime
from workers.schedule import beat_schedule

settings = load_settings()

app = Celery("authsvc")
app.conf.update(celery_config(settings))
app.conf.beat_schedule = beat_schedule(settings)
app.conf.include = ["workers.tasks.audit", "workers.tasks.sweeps", "workers.tasks.fanout",
                    "workers.tasks.outbox"]

runtime = WorkerRuntime(settings)


@worker_process_init.connect
def _after_fork(**_: object) -> None:
    # A prefork child must not reuse connections its parent may have opened.
    runtime.forget()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close(**_: object) -> None:
    runtime.close()
