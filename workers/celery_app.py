"""The Celery application of ``celery -A workers worker`` and ``celery -A workers beat``.

Configured from ``app.settings`` like everything else (``AUTH_*`` variables):
the broker is ``settings.broker_url`` (Redis unless ``AUTH_BROKER__URL`` names
RabbitMQ), tasks go to ``settings.workers.queue``, and the schedule comes from
``workers.schedule.beat_schedule``.
"""
from __future__ import annotations

from pathlib import Path

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import worker_process_init, worker_process_shutdown, worker_shutdown

from app.settings import load_settings_or_exit
from app.taskqueue import celery_config
from workers.runtime import WorkerRuntime
from workers.schedule import beat_schedule

# Celery would wrap a refused setting in "Couldn't import 'workers'" and a traceback; the
# operator needs the setting's name instead. Refused here, before "ready.": a value that
# cannot work (a data key that is no key, a broker URL of no transport) would otherwise fail
# every task the worker takes.
settings = load_settings_or_exit()

app = Celery("authsvc")
app.conf.update(celery_config(settings))
app.conf.beat_schedule = beat_schedule(settings)
app.conf.beat_scheduler = "workers.celery_app:PersistentSchedulerMakingItsDir"
app.conf.include = ["workers.tasks.audit", "workers.tasks.sweeps", "workers.tasks.fanout",
                    "workers.tasks.outbox"]

runtime = WorkerRuntime(settings)


class PersistentSchedulerMakingItsDir(PersistentScheduler):
    """Celery's default scheduler, creating the schedule file's directory first: the
    Procfile keeps it in var/, which is git-ignored and so absent on a fresh clone
    (beat_init comes too late: the file is opened before it is sent)."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()


@worker_process_init.connect
def _after_fork(**_: object) -> None:
    # A prefork child must not reuse connections its parent may have opened.
    runtime.forget()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close(**_: object) -> None:
    runtime.close()
