"""The authorizer: who may do what, computed once per caller and policy version.

A policy snapshot (roles, edges, permissions, rules) is read from Postgres once per
version; per-caller views are compiled from it and kept in a small LRU. The version
lives in Redis (``<prefix>:authz:version``); writers bump it and publish
``authz:<version>`` on the invalidation channel, and every web process drops its
snapshot on that message. While the pub/sub link is down (or in processes without
one) the cache is not trusted: each use re-reads the version from Redis first.
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.authz.emails import UserEmails
from app.authz.hierarchy import closure
from app.authz.permissions import PermissionSet
from app.authz.repository import AuthzRepository, Snapshot
from app.authz.rules import PolicyView, principal_context

MESSAGE_PREFIX = "authz:"


@dataclass(frozen=True, slots=True)
class Subject:
    """The caller as the service knows it; roles are the directly held ones.

    A user's ``email`` is None when the caller came without it (an access token carries
    none); ``Authorizer.decision_view`` reads it when a rule needs it.
    """

    kind: str  # "user" | "client"
    id: str
    email: str | None
    roles: tuple[str, ...]


def subject_of(principal) -> Subject:
    return Subject(kind=principal.kind, id=principal.id, email=getattr(principal, "email", None) or None,
                   roles=tuple(principal.roles))


def view_from(snapshot: Snapshot, subject: Subject) -> PolicyView:
    """Compile one caller's view: effective roles, their permissions and rules, the user's own rules."""
    roles = closure(subject.roles, snapshot.parents)
    permissions = PermissionSet(p for r in roles for p in snapshot.permissions.get(r, ()))
    rules = [spec for r in sorted(roles) for spec in snapshot.role_rules.get(r, ())]
    if subject.kind == "user":
        rules.extend(snapshot.user_rules.get(subject.id, ()))
    context = principal_context(kind=subject.kind, id=subject.id, email=subject.email, roles=roles)
    return PolicyView(roles=roles, permissions=permissions, rules=rules, context=context)


class Authorizer:
    def __init__(self, *, sessionmaker: async_sessionmaker, repository: AuthzRepository, redis: Redis,
                 version_key: str, cache_size: int = 10_000,
                 is_trusted: Callable[[], bool] = lambda: False, emails: UserEmails | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.emails = emails
        self.repository = repository
        self.redis = redis
        self.version_key = version_key
        self.cache_size = cache_size
        self._is_trusted = is_trusted
        self._snapshot: Snapshot | None = None
        self._views: OrderedDict[Subject, PolicyView] = OrderedDict()
        # Bumped by every invalidation: a snapshot read across one is used once, never cached.
        self.generation = 0
        self.loads = 0
        self._loading = asyncio.Lock()

    async def view(self, subject: Subject) -> PolicyView:
        """The caller's compiled view under the current policy version."""
        snapshot = await self._current()
        if snapshot is not self._snapshot:
            return view_from(snapshot, subject)
        cached = self._views.get(subject)
        if cached is not None:
            self._views.move_to_end(subject)
            return cached
        view = view_from(snapshot, subject)
        self._views[subject] = view
        if len(self._views) > self.cache_size:
            self._views.popitem(last=False)
        return view

    async def decision_view(self, subject: Subject) -> PolicyView:
        """``view``, for deciding rule conditions: a user who came without an email (Bearer)
        gets it filled in when one of their rules refers to ``${user.email}``, so a decision
        does not depend on how the user was named. Roles and permissions alone (guards) need
        ``view``, which reads nothing more."""
        view = await self.view(subject)
        if (subject.kind != "user" or subject.email is not None or self.emails is None
                or "user.email" not in view.placeholders):
            return view
        email = await self.emails.email_of(subject.id)
        if email is None:
            return view
        return await self.view(replace(subject, email=email))

    async def _current(self) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and self._is_trusted():
            return snapshot
        generation = self.generation
        version = await self._version()
        if snapshot is not None and snapshot.version == version:
            return snapshot
        # One load per change, however many requests arrive meanwhile.
        async with self._loading:
            latest = self._snapshot
            if latest is not None and latest.version == version:
                return latest
            async with self.sessionmaker() as session:
                fresh = await self.repository.snapshot(session, version)
            self.loads += 1
            if generation == self.generation:
                self._snapshot = fresh
                self._views.clear()
            return fresh

    async def _version(self) -> str:
        value = await self.redis.get(self.version_key)
        if isinstance(value, bytes):
            value = value.decode()
        return value or "0"

    def on_message(self, message: str) -> None:
        if message.startswith(MESSAGE_PREFIX):
            self.reset()

    def reset(self) -> None:
        self.generation += 1
        self._snapshot = None
        self._views.clear()
