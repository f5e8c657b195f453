"""The Celery side both ends share: task names, the Celery configuration, and the
client the web process uses to enqueue work (the worker lives in ``workers/``).

The broker is whatever ``settings.broker_url`` names: Redis by default,
RabbitMQ (``amqp://...``) by changing ``AUTH_BROKER__URL`` alone.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError as BrokerError

from app.errors import ServiceUnavailableError
from app.settings import Settings

log = logging.getLogger("app.tasks")

# Task names are part of the wire between web and worker: never rename one that is deployed.
AUDIT_DRAIN = "authsvc.audit.drain"
SESSION_SWEEP = "authsvc.sessions.sweep_expired"
REVOCATION_SWEEP = "authsvc.tokens.sweep_revocations"
STREAM_TRIM = "authsvc.events.trim"
OUTBOX_RELAY = "authsvc.outbox.relay"
FORCED_LOGOUT = "authsvc.users.forced_logout"


def is_redis_url(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://"))


# The longest countdown a task's retry waits (workers.tasks.retry: ONE_OFF's backoff cap).
MAX_RETRY_COUNTDOWN_S = 60


def task_time_limit(settings: Settings) -> float:
    """The hard limit on one task run; a periodic task stops taking batches after
    ``task_budget_s``, so this is the backstop."""
    return max(120.0, 6 * settings.workers.task_budget_s)


def visibility_timeout_s(settings: Settings) -> int:
    """How long the Redis transport waits before handing a task whose worker vanished (killed,
    its host gone) to another worker. As short as it can be without a live task being handed
    out twice: a task a worker has reserved may wait behind one running to its time limit,
    then run to its own, after a retry countdown (with RabbitMQ a dead worker's task comes
    back at once, as its connection drops). Celery's default is an hour."""
    return int(2 * task_time_limit(settings) + MAX_RETRY_COUNTDOWN_S + 60)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Everything Celery needs, for the worker, beat and the web's client alike."""
    w = settings.workers
    broker = settings.broker_url
    config: dict[str, Any] = {
        "broker_url": broker,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": w.queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        # Nobody reads results (the 202 hands out the id for logs and tracing).
        "task_ignore_result": True,
        # A task is acknowledged after it ran: a crashed worker's task runs again,
        # which is fine because every task is idempotent.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # A periodic task stops taking batches after task_budget_s; this is the backstop.
        "task_time_limit": task_time_limit(settings),
        "enable_utc": True,
        "timezone": "UTC",
        "worker_hijack_root_logger": False,
    }
    if is_redis_url(broker):
        # Celery's own keys under the deployment's prefix, beside the service's keys.
        config["broker_transport_options"] = {
            "global_keyprefix": f"{settings.redis.key_prefix}:celery:",
            "visibility_timeout": visibility_timeout_s(settings),
        }
    return config


class TaskQueue:
    """Enqueues tasks from async code without blocking the loop (kombu's publish is
    blocking I/O, so it runs in a thread)."""

    def __init__(self, settings: Settings) -> None:
        self.queue = settings.workers.queue
        self._config = celery_config(settings)
        self._celery: Celery | None = None

    @property
    def celery(self) -> Celery:
        if self._celery is None:
            celery = Celery("authsvc", set_as_current=False)
            celery.conf.update(self._config)
            self._celery = celery
        return self._celery

    async def send(self, name: str, kwargs: dict[str, Any], task_id: str | None = None) -> str:
        """Enqueue ``name``; returns the task id.

        :raises ServiceUnavailableError: the broker cannot be reached.
        """
        task_id = task_id or str(uuid.uuid4())
        try:
            await asyncio.to_thread(self.celery.send_task, name, kwargs=kwargs, task_id=task_id,
                                    queue=self.queue)
        except (BrokerError, OSError) as e:
            log.error("could not enqueue %s: %s", name, e)
            raise ServiceUnavailableError("The task queue is unreachable; try again shortly.") from e
        return task_id

    def close(self) -> None:
        if self._celery is not None:
            self._celery.close()
            self._celery = None
