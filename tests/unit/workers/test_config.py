"""The Celery configuration and beat schedule come from settings, in one place."""
from __future__ import annotations

from app.settings import Settings
from app.taskqueue import (AUDIT_DRAIN, OUTBOX_RELAY, REVOCATION_SWEEP, SESSION_SWEEP, STREAM_TRIM,
                           celery_config)
from workers.schedule import beat_schedule


def test_broker_is_the_redis_url_unless_set():
    s = Settings(redis={"url": "redis://r:6379/3", "key_prefix": "acme"})
    config = celery_config(s)
    assert config["broker_url"] == "redis://r:6379/3"
    # Celery's keys live under the deployment's prefix on a shared Redis.
    assert config["broker_transport_options"]["global_keyprefix"] == "acme:celery:"


def test_rabbitmq_by_the_broker_url_alone():
    s = Settings(broker={"url": "amqp://guest:guest@127.0.0.1:5672//"})
    config = celery_config(s)
    assert config["broker_url"] == "amqp://guest:guest@127.0.0.1:5672//"
    assert "broker_transport_options" not in config


def test_reliability_settings():
    config = celery_config(Settings(workers={"queue": "q1"}))
    assert config["task_default_queue"] == "q1"
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["worker_prefetch_multiplier"] == 1
    assert config["accept_content"] == ["json"]


def test_schedule_intervals_come_from_settings():
    s = Settings(workers={"audit_drain_interval_s": 0.5, "session_sweep_interval_s": 7,
                          "stream_trim_interval_s": 11, "outbox_relay_interval_s": 13},
                 tokens={"access_ttl_s": 600})
    schedule = beat_schedule(s)
    every = {entry["task"]: entry["schedule"] for entry in schedule.values()}
    assert every == {AUDIT_DRAIN: 0.5, SESSION_SWEEP: 7, STREAM_TRIM: 11, OUTBOX_RELAY: 13,
                     REVOCATION_SWEEP: 900.0}  # 1.5x the access-token lifetime by default
    assert beat_schedule(Settings(workers={"revocation_sweep_interval_s": 42}))["revocation-list-sweep"][
        "schedule"] == 42
    for entry in schedule.values():  # a run superseded by the next is dropped, not piled up
        assert entry["options"]["expires"] >= entry["schedule"]


def test_a_vanished_workers_task_comes_back_in_minutes_never_while_it_may_still_run():
    """On the Redis broker an unacknowledged task is handed out again after the visibility
    timeout: an hour by Celery's default, which left a killed worker's forced-logout fan-out
    waiting that long. It must still outlast the longest a live task can hold its message."""
    from workers.tasks.retry import ONE_OFF, PERIODIC

    for budget in (20, 100):
        s = Settings(workers={"task_budget_s": budget})
        config = celery_config(s)
        limit = config["task_time_limit"]
        longest_countdown = max(ONE_OFF["retry_backoff_max"], PERIODIC["retry_backoff_max"])
        visibility = config["broker_transport_options"]["visibility_timeout"]
        # Reserved behind a task running to its limit, then its own run, after a countdown.
        assert visibility > 2 * limit + longest_countdown
    assert celery_config(Settings())["broker_transport_options"]["visibility_timeout"] <= 600
