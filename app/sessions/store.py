"""Session state in Redis.

Keys (``p`` is the configured prefix):
  p:s:<sid_hash>     hash: uid email roles created seen abs idle auth ip ua
  p:u:<uid>:s        zset of the user's sid hashes, scored by absolute expiry
  p:u:<uid>:epoch    revocation epoch: sessions and tokens issued at or before it are dead
  p:session-expiry   zset "uid|sid_hash" scored by the current deadline (the sweep's work list)
  p:invalidate       pub/sub channel telling every web process to drop cached entries
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from app.clock import now_s, rfc3339
from app.events.envelope import Event
from app.events.publisher import EventPublisher
from app.sessions import scripts
from app.sessions.ids import HANDLE_CHARS
from app.sessions.record import SessionRecord


@dataclass(frozen=True, slots=True)
class Lookup:
    """The outcome of reading a session: ``status`` is ok, expired or revoked."""

    status: str
    record: SessionRecord


class SessionStore(Protocol):
    async def create(self, record: SessionRecord, events: list[Event]) -> None: ...
    async def read(self, sid_hash: str, now: float) -> Lookup | None: ...
    async def list_for_user(self, user_id: str) -> list[SessionRecord]: ...
    async def revoke(self, user_id: str, ended: dict[str, Event]) -> int: ...
    async def sweep_expired(self, now: float, limit: int) -> tuple[int, int]: ...


class KeySpace:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.session_prefix = f"{prefix}:s:"
        self.user_prefix = f"{prefix}:u:"
        self.expiry = f"{prefix}:session-expiry"
        self.channel = f"{prefix}:invalidate"

    def session(self, sid_hash: str) -> str:
        return self.session_prefix + sid_hash

    def user_index(self, user_id: str) -> str:
        return f"{self.user_prefix}{user_id}:s"

    def user_epoch(self, user_id: str) -> str:
        return f"{self.user_prefix}{user_id}:epoch"


def _record(sid_hash: str, f: list) -> SessionRecord:
    uid, email, roles, created, seen, abs_, idle, auth, ip, ua = (
        v.decode() if isinstance(v, bytes) else v for v in f)
    return SessionRecord(
        sid_hash=sid_hash, user_id=uid, email=email,
        roles=tuple(r for r in roles.split(",") if r), created_at=float(created),
        last_seen_at=float(seen), absolute_expires_at=float(abs_), idle_timeout_s=int(idle),
        auth_time=float(auth), ip=ip, user_agent=ua)


class RedisSessionStore:
    """Every mutation is one MULTI/EXEC or Lua script that also appends its event."""

    def __init__(self, *, redis: Redis, publisher: EventPublisher, prefix: str,
                 touch_granularity_s: float) -> None:
        self.redis = redis
        self.publisher = publisher
        self.keys = KeySpace(prefix)
        self.touch_granularity_s = touch_granularity_s
        self._check = redis.register_script(scripts.CHECK)
        self._revoke = redis.register_script(scripts.REVOKE)
        self._sweep = redis.register_script(scripts.SWEEP)

    async def create(self, record: SessionRecord, events: list[Event]) -> None:
        k = self.keys
        key = k.session(record.sid_hash)
        deadline = record.idle_expires_at
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={
                "uid": record.user_id, "email": record.email, "roles": ",".join(record.roles),
                "created": repr(record.created_at), "seen": repr(record.last_seen_at),
                "abs": repr(record.absolute_expires_at), "idle": record.idle_timeout_s,
                "auth": repr(record.auth_time), "ip": record.ip, "ua": record.user_agent,
            })
            pipe.pexpireat(key, int(deadline * 1000) + 1)
            index = k.user_index(record.user_id)
            pipe.zadd(index, {record.sid_hash: record.absolute_expires_at})
            # Entries past their absolute expiry cannot be live; trimming here keeps
            # the index bounded even before the sweep runs.
            pipe.zremrangebyscore(index, "-inf", record.created_at)
            pipe.expireat(index, int(record.absolute_expires_at) + 60, gt=True)
            pipe.zadd(k.expiry, {f"{record.user_id}|{record.sid_hash}": deadline})
            for event in events:
                self.publisher.add_to(pipe, event)
            await pipe.execute()

    async def read(self, sid_hash: str, now: float) -> Lookup | None:
        k = self.keys
        result = await self._check(
            keys=[k.session(sid_hash), k.expiry],
            args=[repr(now), k.user_prefix, self.touch_granularity_s, k.session_prefix])
        if not result:
            return None
        status = result[0].decode() if isinstance(result[0], bytes) else result[0]
        return Lookup(status=status, record=_record(sid_hash, result[1:]))

    async def list_for_user(self, user_id: str) -> list[SessionRecord]:
        sid_hashes = [m.decode() if isinstance(m, bytes) else m
                      for m in await self.redis.zrange(self.keys.user_index(user_id), 0, -1)]
        if not sid_hashes:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for sh in sid_hashes:
                pipe.hmget(self.keys.session(sh), "uid", "email", "roles", "created", "seen", "abs",
                           "idle", "auth", "ip", "ua")
            rows = await pipe.execute()
        now = now_s()
        records = [_record(sh, f) for sh, f in zip(sid_hashes, rows) if f[0] is not None]
        return [r for r in records if r.user_id == user_id and r.is_live(now)]

    async def find_by_handle(self, user_id: str, handle: str) -> str | None:
        """The sid hash of the user's session with ``handle``; O(the user's sessions)."""
        if len(handle) != HANDLE_CHARS:
            return None
        for member in await self.redis.zrange(self.keys.user_index(user_id), 0, -1):
            sh = member.decode() if isinstance(member, bytes) else member
            if sh[:HANDLE_CHARS] == handle:
                return sh
        return None

    async def all_for_user(self, user_id: str) -> list[str]:
        return [m.decode() if isinstance(m, bytes) else m
                for m in await self.redis.zrange(self.keys.user_index(user_id), 0, -1)]

    async def revoke(self, user_id: str, ended: dict[str, Event]) -> int:
        """End the user's sessions named by sid hash, each with its event."""
        if not ended:
            return 0
        k = self.keys
        args: list = [k.session_prefix, k.user_prefix, k.channel, user_id]
        for sid_hash, event in ended.items():
            args += [sid_hash, self.publisher.encode(event)]
        return int(await self._revoke(keys=[k.expiry, self.publisher.stream], args=args))

    async def set_epoch(self, user_id: str, epoch: float, ttl_s: int, events: list[Event]) -> None:
        """Reject every session and token of the user issued at or before ``epoch``."""
        async with self.redis.pipeline(transaction=True) as pipe:
            key = self.keys.user_epoch(user_id)
            pipe.set(key, repr(epoch), ex=ttl_s)
            pipe.publish(self.keys.channel, f"u:{user_id}")
            for event in events:
                self.publisher.add_to(pipe, event)
            await pipe.execute()

    async def epoch_of(self, user_id: str) -> float:
        value = await self.redis.get(self.keys.user_epoch(user_id))
        return float(value) if value else 0.0

    async def update_profile(self, user_id: str, *, email: str, roles: tuple[str, ...]) -> None:
        """Rewrite the denormalised email/roles on every live session of the user."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for sh in await self.all_for_user(user_id):
                key = self.keys.session(sh)
                # HSET on a missing key would resurrect it without a TTL; only
                # touch sessions that still exist.
                pipe.eval("if redis.call('EXISTS', KEYS[1]) == 1 then "
                          "return redis.call('HSET', KEYS[1], 'email', ARGV[1], 'roles', ARGV[2]) end "
                          "return 0", 1, key, email, ",".join(roles))
            pipe.publish(self.keys.channel, f"u:{user_id}")
            await pipe.execute()

    async def sweep_expired(self, now: float, limit: int) -> tuple[int, int]:
        """One bounded batch: returns (entries looked at, sessions ended)."""
        k = self.keys
        seen, ended = await self._sweep(
            keys=[k.expiry, self.publisher.stream],
            args=[repr(now), limit, k.session_prefix, k.user_prefix, k.channel,
                  self.publisher.source, rfc3339(now)])
        return int(seen), int(ended)
