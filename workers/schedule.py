"""The beat schedule: every periodic task, in one place, with its interval from settings."""
from __future__ import annotations

from app.settings import Settings
from app.taskqueue import AUDIT_DRAIN, OUTBOX_RELAY, REVOCATION_SWEEP, SESSION_SWEEP, STREAM_TRIM


def _entry(task: str, every_s: float) -> dict:
    # A run still queued when the next one is due is superseded by it: expiring it
    # keeps a stopped worker from coming back to a pile of identical tasks. The floor
    # leaves room for clock skew between beat and worker hosts.
    return {"task": task, "schedule": every_s, "options": {"expires": max(2 * every_s, 30.0)}}


def beat_schedule(settings: Settings) -> dict[str, dict]:
    w = settings.workers
    return {
        # The audit trail should trail the stream by about one interval; the drain
        # stops as soon as the stream has nothing new, so a quiet run costs ~1 ms.
        "audit-drain": _entry(AUDIT_DRAIN, w.audit_drain_interval_s),
        # Redis expires session keys by itself; this clears the per-user indexes and
        # the expiry list, and reports each session as auth.session.expired.
        "session-expiry-sweep": _entry(SESSION_SWEEP, w.session_sweep_interval_s),
        # Revoked jtis are useless once the token expired anyway; 1.5x the access
        # token lifetime unless set, so an entry outlives its token by half a life at most.
        "revocation-list-sweep": _entry(REVOCATION_SWEEP,
                                        w.revocation_sweep_every(settings.tokens.access_ttl_s)),
        # Bounds the stream's memory; never trims what the audit group has not acknowledged.
        "event-stream-trim": _entry(STREAM_TRIM, w.stream_trim_interval_s),
        # Publishes outbox rows whose web request died between commit and relay.
        "outbox-relay": _entry(OUTBOX_RELAY, w.outbox_relay_interval_s),
    }
