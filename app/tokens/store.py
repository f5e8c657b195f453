"""Refresh families and the access-token revocation list in Redis (layout in scripts.py)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from redis.asyncio import Redis

from app.events.envelope import Event
from app.events.publisher import EventPublisher
from app.throttle import IpGate
from app.tokens import scripts

# How many rotations a late sibling may be behind and still get the family's current token.
MAX_GRACE_CHAIN = 8


def _s(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _roles(values: list[str]) -> dict:
    version, known, roles = values
    return {"roles_version": version,
            "roles": tuple(r for r in roles.split(",") if r) if known == "1" else None}


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a refresh script decided. ``outcome``: rotated, grace, unknown, expired, revoked, reused."""

    outcome: str
    user_id: str = ""
    family: str = ""
    auth_time: float = 0.0
    refresh_expires_at: float = 0.0
    epoch: float = 0.0
    blobs: list[str] = field(default_factory=list)
    roles: tuple[str, ...] | None = None  # None: not known in Redis, read them from Postgres
    roles_version: str = ""  # what remember_roles must find to write them back
    wait_ms: int = 0  # throttled: how long the caller's address must wait


@dataclass(frozen=True, slots=True)
class RefreshState:
    """A refresh token as introspection sees it (read only)."""

    user_id: str
    family: str
    live: bool
    expires_at: float
    issued_at: float


class RedisTokenStore:
    def __init__(self, *, redis: Redis, publisher: EventPublisher, prefix: str, channel: str,
                 leeway_s: int) -> None:
        self.redis = redis
        self.publisher = publisher
        self.p = prefix + ":"
        self.channel = channel
        self.leeway_s = leeway_s
        self.due = f"{prefix}:token-due"
        self._issue = redis.register_script(scripts.ISSUE)
        self._refresh = redis.register_script(scripts.REFRESH)
        self._remember_roles = redis.register_script(scripts.REMEMBER_ROLES)
        self._undo_rotation = redis.register_script(scripts.UNDO_ROTATION)
        self._release_grace = redis.register_script(scripts.RELEASE_GRACE)
        self._revoke_family = redis.register_script(scripts.REVOKE_FAMILY)
        self._revoke_family_id = redis.register_script(scripts.REVOKE_FAMILY_ID)
        self._revoke_jti = redis.register_script(scripts.REVOKE_JTI)
        self._revoke_user = redis.register_script(scripts.REVOKE_USER)
        self._sweep = redis.register_script(scripts.SWEEP)

    def token_key(self, token_hash: str) -> str:
        return f"{self.p}rt:{token_hash}"

    def family_key(self, family: str) -> str:
        return f"{self.p}rf:{family}"

    def user_index(self, user_id: str) -> str:
        return f"{self.p}u:{user_id}:t"

    def user_epoch(self, user_id: str) -> str:
        return f"{self.p}u:{user_id}:epoch"

    def revoked_key(self, jti: str) -> str:
        return f"{self.p}rv:{jti}"

    @property
    def since_key(self) -> str:
        """When Redis's token state began (see access_state)."""
        return f"{self.p}since"

    def _encode(self, event: Event) -> str:
        return self.publisher.encode(event)

    async def create_family(self, *, family: str, user_id: str, now: float, absolute_expires_at: float,
                            auth_time: float, token_hash: str, token_expires_at: float, jti: str,
                            jti_expires_at: float, roles_read_at: float, events: list[Event]) -> tuple[str, float]:
        """A new family with its first refresh token and access jti, dated ``now`` (the read of
        the credentials). Returns (outcome, epoch): ``ok`` and what the access token must be
        dated after; or, writing nothing, ``revoked`` (the user's epoch is at or after ``now``)
        or ``roles`` (the roles changed since ``roles_read_at``)."""
        fkey = self.family_key(family)
        outcome, epoch = await self._issue(
            keys=[self.token_key(token_hash), fkey, fkey + ":j", self.user_index(user_id), self.due,
                  self.publisher.stream],
            args=[self.p, family, user_id, repr(now), repr(absolute_expires_at), repr(auth_time),
                  repr(token_expires_at), token_hash, jti, repr(jti_expires_at), repr(roles_read_at),
                  *(self._encode(e) for e in events)])
        return _s(outcome), float(_s(epoch))

    def user_roles(self, user_id: str) -> str:
        return f"{self.p}u:{user_id}:roles"

    async def rotate(self, *, token_hash: str, now: float, grace_s: float, new_hash: str, sealed: str,
                     refresh_ttl_s: int, jti: str, jti_expires_at: float, refreshed: Event,
                     gate: IpGate | None = None) -> Rotation:
        """Spend a refresh token, checking ``gate`` first (outcome ``throttled`` if it is shut).

        ``refreshed`` is the grant's event; the script names its user and family, and makes
        the reuse and revocation events of the rare outcomes from it (scripts._REFRESH_EVENTS).
        """
        if refreshed.subject is not None or refreshed.data.get("family", "") is not None:
            raise ValueError("the refreshed event must leave subject and data.family as None for the script")
        args = [self.p, repr(now), repr(grace_s), new_hash, sealed, refresh_ttl_s, jti, repr(jti_expires_at),
                self.leeway_s, self.channel, MAX_GRACE_CHAIN, self._encode(refreshed)]
        if gate is not None:
            args += gate.args
        result = await self._refresh(
            keys=[self.token_key(token_hash), self.publisher.stream, gate.key if gate else self.p + "th:none"],
            args=args)
        values = [_s(v) for v in result]
        outcome = values[0]
        if outcome == "rotated":
            return Rotation(outcome, values[1], values[2], float(values[3]), float(values[4]), float(values[5]),
                            **_roles(values[6:9]))
        if outcome == "grace":
            return Rotation(outcome, values[1], values[2], float(values[3]), refresh_expires_at=float(values[5]),
                            epoch=float(values[4]), blobs=values[9:], **_roles(values[6:9]))
        if outcome == "throttled":
            return Rotation(outcome, wait_ms=int(values[1]))
        return Rotation(outcome, *(values[1:3] if len(values) >= 3 else ()))

    async def undo_rotation(self, *, token_hash: str, new_hash: str, jti: str, event: Event) -> str:
        """Undo a ``rotated`` outcome whose request failed before its reply (scripts.UNDO_ROTATION):
        ``undone`` (and ``event`` emitted), ``pending`` (a grace reply handed the successor out;
        undone if every such request fails too) or ``moved`` (something happened since: nothing)."""
        return _s(await self._undo_rotation(
            keys=[self.token_key(token_hash), self.token_key(new_hash), self.publisher.stream],
            args=[self.p, token_hash, new_hash, jti, self._encode(event)]))

    async def release_grace(self, *, handed_hash: str, jti: str) -> str:
        """A ``grace`` outcome's request failed before its reply: its hand-out of ``handed_hash``
        no longer counts (scripts.RELEASE_GRACE)."""
        return _s(await self._release_grace(keys=[self.token_key(handed_hash), self.publisher.stream],
                                            args=[self.p, handed_hash, jti]))

    async def remember_roles(self, user_id: str, version: str, roles: tuple[str, ...], ttl_s: int) -> bool:
        """Keep the roles a refresh read from Postgres for the next ones, unless they changed
        since ``version`` was read (then the next refresh reads Postgres again)."""
        return bool(await self._remember_roles(keys=[self.user_roles(user_id)],
                                               args=[version, ",".join(roles), ttl_s]))

    async def revoke_family_of(self, token_hash: str, now: float, event: Event) -> str | None:
        """Revoke the family of a refresh token; returns its user id (None: unknown token)."""
        result = await self._revoke_family(
            keys=[self.token_key(token_hash), self.publisher.stream],
            args=[self.p, repr(now), self.leeway_s, self.channel, self._encode(event)])
        return _s(result[0]) if result else None

    async def revoke_family_by_id(self, family: str, user_id: str, now: float, event: Event) -> bool:
        """Revoke a family named by its id, if it is the user's; True if it was live."""
        n = await self._revoke_family_id(keys=[self.publisher.stream],
                                         args=[self.p, repr(now), self.leeway_s, self.channel,
                                               self._encode(event), family, user_id])
        return bool(n)

    async def revoke_jti(self, *, jti: str, expires_at: float, user_id: str, now: float, event: Event) -> bool:
        n = await self._revoke_jti(keys=[self.publisher.stream],
                                   args=[self.p, repr(now), self.leeway_s, self.channel, jti,
                                         repr(expires_at), user_id, self._encode(event)])
        return bool(n)

    async def revoke_user(self, user_id: str, now: float, event: Event, *, cutoff: float | None = None) -> int:
        """Revoke the user's families (those created at or before ``cutoff`` if given)."""
        return int(await self._revoke_user(keys=[self.user_index(user_id), self.publisher.stream],
                                           args=[self.p, repr(now), self.leeway_s, self.channel, user_id,
                                                 self._encode(event), "" if cutoff is None else repr(cutoff)]))

    async def access_state(self, jti: str, user_id: str, now: float) -> tuple[bool, float]:
        """(revoked by jti?, the user's epoch) in one round trip.

        Redis keeps the revocation list and the epochs and may lose them (a restart without
        persistence, a FLUSHALL, a failover to a replica that missed the writes); the tokens
        live on in their holders' hands. So a token issued before Redis's state began counts
        as revoked: one issued before the ``since`` mark, which the first check or grant after
        a loss sets again (no refresh family survives a loss either). In whole seconds, like
        iat: a token issued within the very second of that first check survives it."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(self.revoked_key(jti))
            pipe.get(self.user_epoch(user_id))
            pipe.set(self.since_key, math.floor(now), nx=True, get=True)
            revoked, epoch, since = await pipe.execute()
        since = int(since) if since is not None else math.floor(now)
        # iat is in whole seconds: "at or before since - 1" is "before since".
        return bool(revoked), max(float(epoch) if epoch else 0.0, since - 1)

    async def refresh_state(self, token_hash: str) -> RefreshState | None:
        record = await self.redis.hmget(self.token_key(token_hash), "fam", "uid", "exp", "state")
        if record[0] is None:
            return None
        family, user_id, exp, state = (_s(v) for v in record)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.family_key(family), "created", "abs", "revoked")
            pipe.get(self.user_epoch(user_id))
            (created, absolute, revoked), epoch = await pipe.execute()
        if created is None:
            return None
        live = (state == "live" and _s(revoked) == "0"
                and float(_s(created)) > (float(_s(epoch)) if epoch else 0.0))
        return RefreshState(user_id=user_id, family=family, live=live,
                            expires_at=min(float(exp), float(_s(absolute))), issued_at=float(_s(created)))

    async def sweep(self, now: float, limit: int) -> tuple[int, int]:
        users, purged = await self._sweep(keys=[self.due], args=[self.p, repr(now), limit])
        return int(users), int(purged)
