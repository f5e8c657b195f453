"""Failure throttling shared by every web process (Redis, atomic Lua).

Use: ``await throttle.check(attempt)`` before checking a secret, then
``await throttle.failed(attempt)`` or ``await throttle.succeeded(attempt)``; each
raises TooManyAttemptsError (``retry_after_s``) when throttled, and the caller
answers 429 whatever the secret was. See ``app.throttle.limiter`` for the model.
"""
from app.throttle.attempt import Attempt, account_key, ip_bucket
from app.throttle.devices import TrustedDeviceStore
from app.throttle.limiter import IpGate, RedisThrottle, SuccessCommit, Throttle
from app.throttle.policy import Backoff

__all__ = ["Attempt", "Backoff", "IpGate", "RedisThrottle", "SuccessCommit", "Throttle", "TrustedDeviceStore",
           "account_key", "ip_bucket"]
