"""Retry policy shared by the tasks: transient outages of Redis, Postgres or the
network are retried with exponential backoff and jitter; bugs are not."""
from __future__ import annotations

from celery import Task

from app.outage import is_store_outage
from app.taskqueue import MAX_RETRY_COUNTDOWN_S


class OutageRetryingTask(Task):
    """Retries only what ``is_store_outage`` calls an outage.

    ``autoretry_for`` can name types only, and a Postgres connection cut mid-statement or
    refused while the server restarts arrives as a plain DBAPIError, the base an
    IntegrityError shares: so every exception is offered to ``retry`` and the ones that
    are not outages are raised again, failing the task as before.
    """

    def retry(self, args=None, kwargs=None, exc=None, throw=True, eta=None, countdown=None,
              max_retries=None, **options):
        if exc is not None and not is_store_outage(exc):
            raise exc
        return super().retry(args, kwargs, exc, throw, eta, countdown, max_retries, **options)


_OUTAGES = {"base": OutageRetryingTask, "autoretry_for": (Exception,), "retry_backoff": 1, "retry_jitter": True}
# For periodic tasks: the next beat run comes anyway, so give up sooner.
PERIODIC = {**_OUTAGES, "retry_backoff_max": 30, "max_retries": 3}
# For one-off work nobody will ask for again (a forced logout's clean-up): keep trying ~10 min.
ONE_OFF = {**_OUTAGES, "retry_backoff_max": MAX_RETRY_COUNTDOWN_S, "max_retries": 12}
