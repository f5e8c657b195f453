"""Session state in Redis, laid out to cost under 512 bytes per session.

Keys (``p`` is the configured prefix):
  p:s:<sid_hash>     string: msgpack [uid, email, roles, created, seen, abs, idle, auth, ip, ua-id],
                     expiring at the session's deadline
  p:ua:<ua-id>       string: a user agent, stored once however many sessions share it
  p:u:<uid>:s        zset of the user's sid hashes, scored by each one's current deadline
  p:u:<uid>:epoch    revocation epoch: sessions and tokens issued at or before it are dead
  p:u:<uid>:roles    hash {v, r}: the user's roles as the refresh grant keeps them (app.tokens);
                     a profile change here replaces it by a fresh ``v`` without ``r``
  p:session-due      zset of user ids scored by (at most) their earliest session deadline:
                     the sweep's work list, one entry per user rather than per session
  p:invalidate       pub/sub channel telling every web process to drop cached entries

One string per session instead of a hash (a hash holding a user agent longer
than 64 bytes leaves the compact listpack encoding and triples in size), user
agents interned, and one due entry per user: 1.5 KB per session became ~0.45 KB
(bench/REPORT.md).
"""
from __future__ import annotations

import base64
import hashlib
import math
import secrets
from dataclasses import dataclass, replace
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

import msgpack
from redis.asyncio import Redis

from app.clock import now_s, rfc3339
from app.events.envelope import Event, new_event_id
from app.events.publisher import EventPublisher
from app.sessions import scripts
from app.sessions.ids import HANDLE_CHARS
from app.sessions.record import HeldCredential, SessionRecord

if TYPE_CHECKING:
    from app.throttle import SuccessCommit

# How long a roles invalidation mark outlives the change: far longer than a refresh
# takes between its Redis read and its write-back.
ROLES_MARK_TTL_S = 3600


@dataclass(frozen=True, slots=True)
class Lookup:
    """The outcome of reading a session: ``status`` is ok, expired or revoked."""

    status: str
    record: SessionRecord


# Index entries a listing may look at beyond its limit: those a revocation epoch ended (they
# sort last, and the fan-out soon deletes them) and a few a second from their deadline.
LIST_SLACK = 100

# Sessions one REVOKE call ends at most. Redis serves nobody else while a script runs, so a user
# with thousands of sessions is ended in calls of this many (~1 ms of Redis each), as the
# expiry sweep does, with other clients served in between.
REVOKE_BATCH = 100

# How long a user's index outlives their last absolute deadline. The sweep finds expired
# sessions only through the index, to end and report them (auth.session.expired): it must
# survive a sweep that runs late (a worker restart, a backlog, a long interval), not just the
# next one. The sweep deletes an emptied index anyway, so this costs memory only while no
# sweep runs at all.
INDEX_GRACE_S = 7 * 86400

# Sessions the cap ends in one script at most (as REVOKE_BATCH): more than that only when the
# cap was lowered or sessions predate it, and then ``trim`` goes on a call at a time.
TRIM_BATCH = 100

# session_guard's codes (app.sessions.scripts).
GUARD_REVOKED, GUARD_ROLES_CHANGED = 1, 2


@dataclass(frozen=True, slots=True)
class Created:
    """The outcome of writing a session; ``guard`` > 0 or ``wait_ms`` > 0: refused, nothing written."""

    guard: int = 0  # GUARD_REVOKED or GUARD_ROLES_CHANGED
    wait_ms: int = 0  # a login's throttle gate shut meanwhile
    device_kept: bool = False
    over: int = 0  # sessions the user still holds past the cap (more than one call ends): ``trim``


@dataclass(frozen=True, slots=True)
class SessionCap:
    """At most ``sessions`` sessions held by one user: writing one past it ends their least
    recently used, each reported by ``ended`` (an auth.session.revoked event; the script
    fills in its id and ``data.handle`` for each session it ends)."""

    sessions: int
    ended: Event
    # The sid hash of the session the new one replaces (a login from a browser that held one of
    # the user's sessions), which the caller ends right after with its own event: it is neither
    # counted nor ended by the cap. Counted, it made a re-login at the cap end another device's
    # session as well as the replaced one.
    replacing: str = ""


# What the cap's event template carries where the script puts each ended session's id and handle.
_ID_SLOT, _HANDLE_SLOT = "@@event-id@@", "@@handle@@"


class SessionStore(Protocol):
    async def create(self, record: SessionRecord, events: list[Event], commit: SuccessCommit | None = None,
                     *, roles_read_at: float | None = None, cap: SessionCap | None = None) -> Created: ...
    async def trim(self, user_id: str, cap: SessionCap, *, now: float, keep: str) -> tuple[int, int]: ...
    async def read(self, sid_hash: str, now: float) -> Lookup | None: ...
    async def live_for_user(self, user_id: str, *, limit: int) -> list[SessionRecord]: ...
    async def list_for_user(self, user_id: str) -> list[SessionRecord]: ...
    async def revoke(self, user_id: str, ended: dict[str, Event], *, held_only: bool = False) -> int: ...
    async def sweep_expired(self, now: float, limit: int) -> tuple[int, int]: ...


class KeySpace:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.session_prefix = f"{prefix}:s:"
        self.user_prefix = f"{prefix}:u:"
        self.user_agent_prefix = f"{prefix}:ua:"
        self.due = f"{prefix}:session-due"
        self.channel = f"{prefix}:invalidate"

    def session(self, sid_hash: str) -> str:
        return self.session_prefix + sid_hash

    def user_index(self, user_id: str) -> str:
        return f"{self.user_prefix}{user_id}:s"

    def user_epoch(self, user_id: str) -> str:
        return f"{self.user_prefix}{user_id}:epoch"

    def user_roles(self, user_id: str) -> str:
        return f"{self.user_prefix}{user_id}:roles"


def user_agent_id(user_agent: str) -> str:
    """A short name for an interned user agent (72 bits: a collision would only mislabel a device)."""
    return base64.urlsafe_b64encode(hashlib.sha256(user_agent.encode()).digest()[:9]).decode()


def _pack(record: SessionRecord, ua_id: str) -> bytes:
    return msgpack.packb([record.user_id, record.email, ",".join(record.roles), record.created_at,
                          record.last_seen_at, record.absolute_expires_at, record.idle_timeout_s,
                          record.auth_time, record.ip, ua_id])


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(sid_hash: str, value: bytes, user_agent: str | bytes) -> SessionRecord:
    uid, email, roles, created, seen, abs_, idle, auth, ip, _ = msgpack.unpackb(value)
    return SessionRecord(
        sid_hash=sid_hash, user_id=uid, email=email,
        roles=tuple(r for r in roles.split(",") if r), created_at=float(created),
        last_seen_at=float(seen), absolute_expires_at=float(abs_), idle_timeout_s=int(idle),
        auth_time=float(auth), ip=ip,
        user_agent=user_agent.decode() if isinstance(user_agent, bytes) else user_agent)


class RedisSessionStore:
    """Every mutation is one MULTI/EXEC or Lua script that also appends its event."""

    def __init__(self, *, redis: Redis, publisher: EventPublisher, prefix: str,
                 touch_granularity_s: float) -> None:
        self.redis = redis
        self.publisher = publisher
        self.keys = KeySpace(prefix)
        self.touch_granularity_s = touch_granularity_s
        self._create = redis.register_script(scripts.CREATE)
        self._create_committed = redis.register_script(scripts.CREATE_COMMITTED)
        self._check = redis.register_script(scripts.CHECK)
        self._revoke = redis.register_script(scripts.REVOKE)
        self._list = redis.register_script(scripts.LIST)
        self._sweep = redis.register_script(scripts.SWEEP)
        self._set_profile = redis.register_script(scripts.SET_PROFILE)
        self._raise_epoch = redis.register_script(scripts.RAISE_EPOCH)
        self._trim = redis.register_script(scripts.TRIM)

    async def create(self, record: SessionRecord, events: list[Event], commit: SuccessCommit | None = None,
                     *, roles_read_at: float | None = None, cap: SessionCap | None = None) -> Created:
        """Write the session and its events, unless the user's revocation epoch is at or after
        ``record.created_at`` (the read of the credentials) or, with ``roles_read_at``, their
        roles changed since then (scripts.session_guard). With ``commit`` (a login's success)
        only if its throttle gate is still open, in the same atomic step that records the
        success and trusts the device. With ``cap``, in the same step, the user's least
        recently used sessions beyond it end (up to TRIM_BATCH; ``Created.over`` says how many
        are over still). A refusal writes and ends nothing."""
        k = self.keys
        deadline = record.idle_expires_at
        ua_id = user_agent_id(record.user_agent)
        keys = [k.session(record.sid_hash), k.user_agent_prefix + ua_id, k.user_index(record.user_id), k.due,
                self.publisher.stream, k.user_epoch(record.user_id), k.user_roles(record.user_id)]
        # Index scores in whole seconds: listpack stores integers in a few bytes (the value
        # is the truth; the score only tells the sweep where to look, at most a second late).
        args = [_pack(record, ua_id), int(deadline * 1000) + 1, record.user_agent,
                int(record.absolute_expires_at) + 60, record.sid_hash, math.ceil(deadline),
                int(record.absolute_expires_at) + INDEX_GRACE_S, record.user_id, repr(deadline),
                repr(record.created_at),
                "" if roles_read_at is None else repr(roles_read_at),
                "" if cap is None else self._cap_spec(cap, record.last_seen_at)]
        envelopes = [self.publisher.encode(e) for e in events]
        if commit is None:
            guard, over = await self._create(keys=keys, args=args + envelopes)
            return Created(guard=int(guard), over=int(over))
        wait_ms, kept, guard, over = await self._create_committed(
            keys=keys + commit.gate_keys + commit.device_keys,
            args=[*args, len(commit.gate_keys), len(commit.gate_args), len(commit.device_keys), *commit.gate_args,
                  *commit.device_args, *envelopes])
        return Created(guard=int(guard), wait_ms=int(wait_ms), device_kept=bool(int(kept)), over=int(over))

    async def trim(self, user_id: str, cap: SessionCap, *, now: float, keep: str) -> tuple[int, int]:
        """End up to TRIM_BATCH of the user's least recently used sessions beyond ``cap``, never
        ``keep``; returns (how many are over still, how many ended)."""
        k = self.keys
        over, ended = await self._trim(
            keys=[k.user_index(user_id), k.user_epoch(user_id), self.publisher.stream],
            args=[user_id, self._cap_spec(cap, now), keep])
        return int(over), int(ended)

    def _cap_spec(self, cap: SessionCap, now: float) -> bytes:
        """scripts.trim_sessions' spec: the event template is encoded once and cut where each
        ended session's id and handle go; ids are a fresh random prefix and a counter."""
        # The id comes first in an envelope, the handle first in the data: nothing caller-given
        # (a user agent) precedes either, so the first occurrences are the slots.
        data = {"handle": _HANDLE_SLOT, **{k: v for k, v in cap.ended.data.items() if k != "handle"}}
        head, _, rest = self.publisher.encode(replace(cap.ended, id=_ID_SLOT, data=data)).partition(_ID_SLOT)
        middle, _, tail = rest.partition(_HANDLE_SLOT)
        prefix = new_event_id()[:24]  # a version 4 UUID's first 24 characters; the script adds 12 hex digits
        return msgpack.packb([repr(now), cap.sessions, TRIM_BATCH, head, middle, tail, prefix,
                              self.keys.session_prefix, self.keys.channel, cap.replacing])

    async def read(self, sid_hash: str, now: float) -> Lookup | None:
        k = self.keys
        result = await self._check(
            keys=[k.session(sid_hash)],
            args=[repr(now), k.user_prefix, self.touch_granularity_s, k.session_prefix,
                  k.user_agent_prefix])
        if not result:
            return None
        status = result[0].decode() if isinstance(result[0], bytes) else result[0]
        return Lookup(status=status, record=_record(sid_hash, result[1], result[2]))

    async def live_for_user(self, user_id: str, *, limit: int) -> list[SessionRecord]:
        """The sessions the user holds now, the most recently used first, at most ``limit``:
        within both deadlines and issued after the user's revocation epoch, which is read in
        the same script (so what a forced logout ended is gone here before its fan-out runs)."""
        k = self.keys
        flat = await self._list(keys=[k.user_index(user_id), k.user_epoch(user_id)],
                                args=[repr(now_s()), k.session_prefix, k.user_agent_prefix, user_id, limit,
                                      limit + LIST_SLACK])
        return [_record(_text(flat[i]), flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)]

    async def list_for_user(self, user_id: str) -> list[SessionRecord]:
        """Every stored session of the user within its deadlines, including those a revocation
        epoch already ended: the forced logout's fan-out finds its targets here. What the user
        still holds is ``live_for_user``."""
        sid_hashes = await self.all_for_user(user_id)
        if not sid_hashes:
            return []
        values = await self.redis.mget([self.keys.session(sh) for sh in sid_hashes])
        present = [(sh, v) for sh, v in zip(sid_hashes, values) if v is not None]
        ua_ids = sorted({msgpack.unpackb(v)[9] for _, v in present})
        agents = dict(zip(ua_ids, await self.redis.mget([self.keys.user_agent_prefix + u for u in ua_ids])
                          if ua_ids else []))
        now = now_s()
        records = [_record(sh, v, agents.get(msgpack.unpackb(v)[9]) or "") for sh, v in present]
        return [r for r in records if r.user_id == user_id and r.is_live(now)]

    async def find_by_handle(self, user_id: str, handle: str) -> str | None:
        """The sid hash of the user's session with ``handle``; O(the user's sessions)."""
        if len(handle) != HANDLE_CHARS:
            return None
        for member in await self.redis.zrange(self.keys.user_index(user_id), 0, -1):
            sh = _text(member)
            if sh[:HANDLE_CHARS] == handle:
                return sh
        return None

    async def all_for_user(self, user_id: str) -> list[str]:
        return [_text(m) for m in await self.redis.zrange(self.keys.user_index(user_id), 0, -1)]

    async def pages_for_user(self, user_id: str, count: int = 1000) -> AsyncIterator[list[str]]:
        """The user's sid hashes a page at a time (ZSCAN: a bounded step of Redis each, unlike
        one ZRANGE of a huge index). Each hash indexed throughout comes at least once (rarely
        twice), while sessions are ended meanwhile."""
        index, cursor = self.keys.user_index(user_id), 0
        while True:
            cursor, members = await self.redis.zscan(index, cursor, count=count)
            if members:
                yield [_text(member) for member, _ in members]
            if not cursor:
                return

    async def revoke(self, user_id: str, ended: dict[str, Event], *, held_only: bool = False) -> int:
        """End the user's sessions named by sid hash, each with its event; returns how many
        existed and ended. ``held_only``: leave alone those the user's revocation epoch ended
        already (they are the forced logout's to report), as the user no longer holds them.
        In calls of REVOKE_BATCH: each session ends atomically with its event and its
        invalidation, and all of them have ended when this returns."""
        k = self.keys
        keys = [self.publisher.stream, k.user_epoch(user_id)] if held_only else [self.publisher.stream]
        items = list(ended.items())
        total = 0
        for start in range(0, len(items), REVOKE_BATCH):
            args: list = [k.session_prefix, k.user_prefix, k.channel, user_id]
            for sid_hash, event in items[start:start + REVOKE_BATCH]:
                args += [sid_hash, self.publisher.encode(event)]
            total += int(await self._revoke(keys=keys, args=args))
        return total

    async def set_epoch(self, user_id: str, epoch: float, ttl_s: int, events: list[Event], *,
                        held: HeldCredential | None = None) -> bool:
        """Reject every session and token of the user issued at or before ``epoch``. With
        ``held``, only if the caller still holds that credential, checked in the same step;
        False: it does not, and nothing was set, published or emitted."""
        epoch_key = self.keys.user_epoch(user_id)
        if held is not None:
            # Checked and raised in one script: a remedy either came first (refused here) or
            # comes after this epoch (and is then the later one).
            outcome = await self._raise_epoch(
                keys=[epoch_key, held.live_key or "", held.revoked_key or ""],
                args=[repr(epoch), ttl_s, repr(held.issued_at)])
            if int(outcome) < 0:
                return False
        async with self.redis.pipeline(transaction=True) as pipe:
            if held is None:
                await self._raise_epoch(keys=[epoch_key], args=[repr(epoch), ttl_s], client=pipe)
            pipe.publish(self.keys.channel, f"u:{user_id}")
            for event in events:
                self.publisher.add_to(pipe, event)
            await pipe.execute()
        return True

    async def epoch_of(self, user_id: str) -> float:
        value = await self.redis.get(self.keys.user_epoch(user_id))
        return float(value) if value else 0.0

    async def update_profile(self, user_id: str, *, email: str, roles: tuple[str, ...]) -> None:
        """Rewrite the denormalised email/roles on every live session of the user, and
        invalidate the roles the refresh grant keeps (called after the change commits).

        The roles mark goes first, in a step of its own, and only then is the index read: a
        session write (CREATE, atomic) lands either before the mark or after it in Redis's
        order. Before it, the session is in the index when it is read (ZADD is in CREATE's
        script) and the rewrite below reaches it. After it, session_guard compares the mark
        with when that session's roles were read: read before ``at`` (which is after the
        commit), it is refused (RolesChangedError: the caller reads the roles again, as of
        after the commit); read at or after ``at``, they are the committed roles already.
        Marking after the index read instead (as this did) let a session written in between
        pass the guard (no mark yet) without being listed: it kept the old roles until its
        absolute timeout. Other writers of the mark (the refresh grant's REMEMBER_ROLES) keep
        ``at``; a later change only moves it later (refusing more). If Redis fails between the
        steps, the mark stands (new sessions already get the new roles) and the caller's retry
        (503) rewrites the rest.

        The invalidation is published in the rewrite's own MULTI, after it: a process that
        read a session before then either stores it under an older cache generation (skipped)
        or drops it on the message; one that reads after it reads the rewritten value. Sessions
        written after the mark need no invalidation (refused, or holding the new roles)."""
        roles_key = self.keys.user_roles(user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            # A fresh version rather than a delete: a refresh that read Postgres before the
            # change committed then fails its compare-and-set instead of writing stale roles.
            pipe.delete(roles_key)
            # 'at': sessions whose roles were read before now are refused (scripts.session_guard).
            pipe.hset(roles_key, mapping={"v": secrets.token_urlsafe(12), "at": repr(now_s())})
            pipe.expire(roles_key, ROLES_MARK_TTL_S)
            await pipe.execute()
        # Only now: every session written before the mark is in the index from here on.
        sid_hashes = await self.all_for_user(user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            for sh in sid_hashes:
                # A script, not SET: a write must not resurrect a session that just ended.
                await self._set_profile(keys=[self.keys.session(sh)], args=[email, ",".join(roles)], client=pipe)
            pipe.publish(self.keys.channel, f"u:{user_id}")
            await pipe.execute()

    async def sweep_expired(self, now: float, limit: int) -> tuple[int, int]:
        """One bounded batch: returns (entries looked at, sessions ended)."""
        k = self.keys
        seen, ended = await self._sweep(
            keys=[k.due, self.publisher.stream],
            args=[repr(now), limit, k.session_prefix, k.user_prefix, k.channel,
                  self.publisher.source, rfc3339(now)])
        return int(seen), int(ended)
