"""Settings refuse values that parse but cannot work, naming the setting, instead of
failing later at runtime (a batch of 0 makes every audit drain raise, forever)."""
from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from app.settings import Settings, describe_errors


@pytest.mark.parametrize("section, field, value", [
    ("workers", "batch_size", 0),                  # XREADGROUP COUNT 0: every audit drain raises
    ("workers", "sweep_batch_size", 0),
    ("workers", "audit_drain_interval_s", 0),      # beat schedules of 0 s
    ("workers", "session_sweep_interval_s", 0),
    ("workers", "stream_trim_interval_s", -1),
    ("workers", "outbox_relay_interval_s", 0),
    ("workers", "task_budget_s", 0),
    ("session", "idle_timeout_s", -1),
    ("session", "absolute_timeout_s", 0),
    ("tokens", "access_ttl_s", -5),
    ("tokens", "refresh_ttl_s", 0),
    ("tokens", "refresh_grace_s", -1),
    ("tokens", "leeway_s", 86400),                 # expired tokens good for a day
    ("tokens", "leeway_s", -1),
    ("password", "time_cost", 0),
    ("password", "parallelism", 0),
    ("password", "memory_kib", 7),                 # argon2 needs 8 KiB per lane
    ("redis", "socket_timeout_s", 0),
    ("redis", "max_connections", 0),
    ("database", "pool_size", 0),
    ("database", "connect_timeout_s", -1),
    ("http", "port", 70000),
    ("events", "retention_s", 0),
    ("throttle", "window_s", -1),
    ("security", "reauth_window_s", 0),
    ("cookie", "samesite", "banana"),
])
def test_a_value_that_cannot_work_is_refused_naming_its_field(section, field, value):
    overrides = {section: {field: value}}
    if section == "cookie":
        overrides["cookie"].update(name="sid", secure=False)
    with pytest.raises(ValidationError) as caught:
        Settings(**overrides)
    assert [e["loc"] for e in caught.value.errors()] == [(section, field)]


def test_an_idle_timeout_past_the_absolute_one_is_refused():
    with pytest.raises(ValidationError, match="idle_timeout_s must not exceed session.absolute_timeout_s"):
        Settings(session={"idle_timeout_s": 3600, "absolute_timeout_s": 600})
    assert Settings(session={"idle_timeout_s": 600, "absolute_timeout_s": 600}).session.idle_timeout_s == 600


def test_argon2_memory_must_cover_its_lanes():
    with pytest.raises(ValidationError, match="memory_kib must be at least 8 x password.parallelism"):
        Settings(password={"memory_kib": 16, "parallelism": 4})


@pytest.mark.parametrize("section, field", [
    ("session", "cache_ttl_s"), ("tokens", "cache_ttl_s"), ("clients", "cache_ttl_s"),  # 0 disables
    ("workers", "revocation_sweep_interval_s"),  # 0: 1.5x the access-token lifetime
    ("password", "hash_max_wait_s"), ("password", "hash_threads"), ("http", "workers"),
    ("tokens", "leeway_s"), ("tokens", "refresh_grace_s"),
])
def test_zero_is_kept_where_it_means_something(section, field):
    assert getattr(getattr(Settings(**{section: {field: 0}}), section), field) == 0


@pytest.mark.parametrize("given, kept", [("strict", "Strict"), ("LAX", "Lax"), ("none", "None")])
def test_samesite_is_spelled_as_the_cookie_attribute(given, kept):
    assert Settings(cookie={"samesite": given}).cookie.samesite == kept


def test_samesite_none_needs_secure():
    with pytest.raises(ValidationError, match="SameSite=None cookie must be Secure"):
        Settings(cookie={"name": "sid", "secure": False, "samesite": "None"})


def test_argon2_below_the_owasp_floor_is_accepted_with_a_warning(caplog):
    """The tests hash with tiny parameters for speed; production gets told, not stopped."""
    with caplog.at_level(logging.WARNING, logger="app.security"):
        Settings()
        assert not caplog.records
        weak = Settings(password={"memory_kib": 1024, "time_cost": 1})
    assert (weak.password.memory_kib, weak.password.time_cost) == (1024, 1)
    assert [r.name for r in caplog.records] == ["app.security"]
    assert "below the OWASP floor" in caplog.records[0].getMessage()


def test_errors_are_described_by_their_environment_variables(monkeypatch):
    monkeypatch.setenv("AUTH_WORKERS__BATCH_SIZE", "0")
    monkeypatch.setenv("AUTH_HTTP__PORT", "abc")
    monkeypatch.setenv("AUTH_SESSION__IDLE_TIMEOUT_S", "99999")
    with pytest.raises(ValidationError) as caught:
        Settings()
    lines = describe_errors(caught.value)
    assert sorted(line.split(":", 1)[0] for line in lines) == [
        "AUTH_HTTP__PORT", "AUTH_SESSION__*", "AUTH_WORKERS__BATCH_SIZE"]
    assert "AUTH_WORKERS__BATCH_SIZE: Input should be greater than 0" in lines
