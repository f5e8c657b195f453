"""The same worker on RabbitMQ, configured by AUTH_BROKER__URL alone."""
from __future__ import annotations

import uuid

import pytest

from app.events.envelope import Event
from app.http.appkeys import SERVICES
from tests.integration.authz.helpers import user
from tests.integration.workers.conftest import RABBITMQ_URL, eventually
from tests.integration.workers.helpers import audit_caught_up, audit_rows
from tests.support.browser import Browser


@pytest.fixture(scope="module")
def broker_url(module_prefix):
    yield RABBITMQ_URL
    # Queues and exchanges are durable on the broker: remove this module's.
    from kombu import Connection

    with Connection(RABBITMQ_URL) as conn:
        channel = conn.default_channel
        channel.queue_delete(f"{module_prefix}-q")
        channel.exchange_delete(f"{module_prefix}-q")


async def test_worker_on_rabbitmq_writes_the_audit_log(worker, settings, redis, tasks, database_url):
    assert settings.broker_url.startswith("amqp://")
    assert "amqp://" in worker.log() and "redis://" not in worker.log().split("[queues]")[0].split("transport:")[1]
    event = Event("auth.login.succeeded", str(uuid.uuid4()), {"method": "password", "ip": "192.0.2.3"})
    await redis.xadd(settings.events.stream, {"event": event.to_json(settings.events.source)})
    await audit_caught_up(tasks, redis, settings)
    assert event.id in await audit_rows(database_url, [event.id])


async def test_forced_logout_fan_out_over_rabbitmq(worker, serve, settings, redis):
    client = await serve(settings)
    admin, _ = await user(client, "admin")
    victim = Browser(client)
    await victim.signed_up()
    victim_id = (await (await victim.request("GET", "/auth/session")).json())["user"]["id"]
    r = await admin.request("POST", f"/admin/users/{victim_id}/logout")
    assert r.status == 202
    keys = client.server.app[SERVICES].session_store.keys

    async def fanned_out():
        return await redis.zcard(keys.user_index(victim_id)) == 0
    await eventually(fanned_out)
    task_id = (await r.json())["task_id"]

    async def succeeded():
        return f"{task_id}] succeeded" in worker.log()
    await eventually(succeeded)


async def test_a_task_whose_worker_died_is_delivered_again(settings, redis, database_url, log_dir):
    """acks_late: the broker keeps a task until it has run. RabbitMQ hands a killed
    worker's task to the next worker at once (the Redis transport waits for its
    visibility timeout, app.taskqueue.visibility_timeout_s)."""
    from kombu import Connection

    from app.taskqueue import AUDIT_DRAIN, TaskQueue
    from tests.integration.workers.procs import CeleryProcess, env_for

    queue_name = f"{settings.workers.queue}-redelivery"
    own = settings.model_copy(update={"workers": settings.workers.model_copy(
        update={"queue": queue_name, "audit_reclaim_idle_s": 1.0})})
    events = [Event("auth.logout", str(uuid.uuid4()), {"handle": "h"}) for _ in range(5)]
    for e in events:
        await redis.xadd(own.events.stream, {"event": e.to_json(own.events.source)})
    ids = [e.id for e in events]
    tasks = TaskQueue(own)
    first = CeleryProcess("worker", env_for(own, AUTH_WORKERS__AUDIT_PAUSE_AFTER_COMMIT_S=60), log_dir,
                          "--pool=solo").wait_ready()
    try:
        task_id = await tasks.send(AUDIT_DRAIN, {})

        async def committed():
            return len(await audit_rows(database_url, ids)) == len(ids)
        await eventually(committed)  # and now paused before its XACK
    finally:
        first.kill()
    second = CeleryProcess("worker", env_for(own), log_dir, "--pool=solo").wait_ready()
    try:
        async def ran_again():
            return f"{task_id}] succeeded" in second.log()
        await eventually(ran_again, timeout=20)  # the same task id: no new task was sent
    finally:
        # A solo-pool worker on py-amqp takes ~9 s to notice SIGTERM (prefork: <1 s); its work is done.
        second.kill()
        tasks.close()
        with Connection(RABBITMQ_URL) as conn:
            conn.default_channel.queue_delete(queue_name)
            conn.default_channel.exchange_delete(queue_name)
