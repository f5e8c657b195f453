"""Forced logout: end everything a user holds.

Two halves. ``force`` (in the web request) sets the user's revocation epoch,
which every web process checks in the same round trip as the session read, so
every session and token is rejected before the admin gets the reply; the
``auth.user.forced_logout`` event commits with the epoch. It also stops trusting
the user's devices (app.throttle), so none lets its holder past the login
throttle any more. ``fan_out`` (in a
worker) then deletes the sessions themselves (one ``auth.session.revoked``
each), revokes live tokens and tells the web processes to drop cached entries.
``fan_out`` is idempotent: a second run finds nothing left to end.
"""
from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from app.clock import now_s
from app.db import outbox
from app.db.outbox import OutboxRelay
from app.authz.names import RolesCheck
from app.db.users import UserRecord, UserRepository
from app.errors import NotFoundError, ServiceUnavailableError
from app.events.envelope import Event
from app.events.publisher import EventPublisher
from app.sessions.manager import ClientInfo, SessionManager
from app.taskqueue import FORCED_LOGOUT
from app.throttle import Throttle, account_key

log = logging.getLogger("app.accounts")


class Dispatch(Protocol):
    async def send(self, name: str, kwargs: dict[str, Any], task_id: str | None = None) -> str: ...


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked (an admin user or API client) and from where."""

    id: str
    client: ClientInfo


def _forced_logout(user_id: str, actor: Actor, reason: str, task_id: str) -> Event:
    return Event("auth.user.forced_logout", user_id,
                 {"reason": reason, "actor": actor.id, "task_id": task_id, **actor.client.context()})


@dataclass(frozen=True, slots=True)
class FanOutReport:
    sessions_ended: int
    tokens_revoked: int


class ForcedLogout:
    def __init__(self, *, sessionmaker: async_sessionmaker, users: UserRepository, sessions: SessionManager,
                 publisher: EventPublisher, relay: OutboxRelay, dispatch: Dispatch,
                 throttle: Throttle | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.users = users
        self.sessions = sessions
        self.publisher = publisher
        self.relay = relay
        self.dispatch = dispatch
        self.throttle = throttle

    async def force(self, user_id: str, actor: Actor, *, reason: str = "admin",
                    may_act_on: RolesCheck | None = None) -> str:
        """Reject every session and token of the user now and stop trusting their devices;
        returns the fan-out task id.

        :raises NotFoundError: no such user.
        :raises ServiceUnavailableError: the fan-out could not be queued (the epoch is
            set already, so the user is logged out; calling again is harmless).
        """
        user = await self._stored(user_id)
        if may_act_on is not None:
            may_act_on(user.roles)  # a logout grants nothing: the roles as read will do
        task_id = str(uuid.uuid4())
        return await self._force(user, reason, task_id, [_forced_logout(user.id, actor, reason, task_id)])

    async def _force(self, user: UserRecord, reason: str, task_id: str, events: list[Event]) -> str:
        epoch = now_s()
        await self.sessions.revoke_everything_before(user.id, epoch, events)
        # Once the epoch is set: no device a login before it earned stays trusted, and one that
        # read the credentials before it trusts none (app.throttle.devices).
        await self._revoke_devices(user)
        return await self.dispatch.send(FORCED_LOGOUT, {"user_id": user.id, "epoch": epoch, "reason": reason},
                                        task_id=task_id)

    async def disable(self, user_id: str, actor: Actor, *, may_act_on: RolesCheck | None = None) -> str:
        """Disable the account (no new login) and force it out; returns the fan-out task id.
        ``may_act_on``: the caller's check of the account's roles, as they are at the commit.

        :raises NotFoundError: no such user.
        """
        user = await self._stored(user_id)
        task_id = str(uuid.uuid4())

        async def log_out_first() -> None:
            # Rejected before the commit as well as after it: if Redis fails after the commit
            # (503), the disabled account's sessions must not live on until someone retries,
            # nor its devices until it is enabled again. A failed commit just logs the user
            # out, and the forced-logout event goes with this first epoch, so that is on the
            # record. The epoch after the commit covers a login that read the account before it.
            await self.sessions.revoke_everything_before(user.id, now_s(),
                                                         [_forced_logout(user.id, actor, "disabled", task_id)])
            await self._revoke_devices(user)

        await self._set_disabled(user.id, True, actor, may_act_on=may_act_on, before_commit=log_out_first)
        return await self._force(user, "disabled", task_id, [])

    async def enable(self, user_id: str, actor: Actor, *, may_act_on: RolesCheck | None = None) -> None:
        """:raises NotFoundError: no such user."""
        await self._set_disabled(user_id, False, actor, may_act_on=may_act_on)

    async def after_logins_ended(self, user_id: str, reason: str) -> str | None:
        """Queue the fan-out for a password change or MFA enrolment (which set the epoch
        itself and ended the sessions in the request); the task revokes the tokens. Best
        effort: the epoch already rejects them, so a broker outage must not fail the change."""
        try:
            return await self.dispatch.send(FORCED_LOGOUT, {"user_id": user_id, "epoch": 0.0, "reason": reason})
        except ServiceUnavailableError:
            log.warning("%s fan-out not queued for %s; the epoch covers it", reason, user_id)
            return None

    async def fan_out(self, user_id: str, epoch: float, reason: str, *, tokens: Any = None) -> FanOutReport:
        """Delete every session issued at or before the epoch (all of them if the account
        is disabled), revoke the user's live tokens, and drop cached entries everywhere."""
        store = self.sessions.store
        async with self.sessionmaker() as session:
            user = await self.users.by_id(session, user_id)
        if user is not None:
            user_id = user.id  # every key and message below is built from the stored spelling
        cutoff = max(epoch, await store.epoch_of(user_id))
        if user is not None and user.disabled:
            cutoff = math.inf  # even a session that raced the disable must go
        # Sessions no longer live are the expiry sweep's to end and report.
        targets = [r.sid_hash for r in await store.list_for_user(user_id) if r.created_at <= cutoff]
        ended = await store.revoke(user_id, {
            sh: Event("auth.session.revoked", user_id, {"handle": sh[:16], "reason": reason})
            for sh in targets})
        revoked = 0
        if tokens is not None and hasattr(tokens, "revoke_all_for_user"):
            # Families dated after the cutoff are logins made since: the epoch did not end them.
            result = await tokens.revoke_all_for_user(user_id, reason=reason,
                                                      cutoff=None if math.isinf(cutoff) else cutoff)
            revoked = result if isinstance(result, int) else 0
        # Each revoke published its session; this reaches entries cached under the user too.
        await store.redis.publish(store.keys.channel, f"u:{user_id}")
        return FanOutReport(sessions_ended=ended, tokens_revoked=revoked)

    async def _stored(self, user_id: str) -> UserRecord:
        """The user, whose ``id`` is as stored (``by_id`` accepts other spellings of a UUID;
        Redis keys and events must use that one). :raises NotFoundError: no such user."""
        async with self.sessionmaker() as session:
            user = await self.users.by_id(session, user_id)
        if user is None:
            raise NotFoundError("No such user.")
        return user

    async def _revoke_devices(self, user: UserRecord) -> None:
        if self.throttle is not None:
            await self.throttle.revoke_devices(account_key("user", user.email))

    async def _set_disabled(self, user_id: str, disabled: bool, actor: Actor, *,
                            may_act_on: RolesCheck | None = None,
                            before_commit: Callable[[], Awaitable[None]] | None = None) -> str:
        """Returns the stored id. ``before_commit`` runs once the change is checked and written.

        :raises NotFoundError: no such user.
        """
        async with self.sessionmaker() as session, session.begin():
            user = await self.users.by_id(session, user_id)
            if user is None:
                raise NotFoundError("No such user.")
            if may_act_on is not None:
                # Judged on the roles at the commit: the row lock holds off a grant (say of
                # admin) that would otherwise land between the caller's check and this change.
                may_act_on(await self.users.locked_roles(session, user.id) or ())
            await self.users.set_disabled(session, user.id, disabled)
            event = Event("auth.user.disabled" if disabled else "auth.user.enabled", user.id,
                          {"actor": actor.id, **actor.client.context()})
            outbox.stage(session, self.publisher, event)
            if before_commit is not None:
                await before_commit()
        await self.relay.relay([event.id])
        return user.id
