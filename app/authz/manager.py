"""Administration use cases: roles, their permissions and parents, user roles, rules.

Every change commits with its event (transactional outbox), then bumps the policy
version and tells every web process (pub/sub), and rewrites the roles carried by
the affected users' live sessions, so the change holds on the very next request.
"""
from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.authz.engine import MESSAGE_PREFIX
from app.authz.errors import (InvalidPermissionError, RoleCycleError, RoleExistsError, RuleError,
                              UnknownRoleError)
from app.authz.hierarchy import find_cycle
from app.authz.models import Policy
from app.authz.names import ROLES_CLAIM_BUDGET, RolesCheck, is_role_name, roles_claim_bytes
from app.authz.permissions import is_valid_permission
from app.authz.repository import AuthzRepository, RoleRow
from app.authz.rules import validate_rule
from app.db import outbox
from app.db.outbox import OutboxRelay
from app.db.users import UserRepository
from app.errors import NotFoundError, ValidationError
from app.events.envelope import Event
from app.events.publisher import EventPublisher
from app.sessions.store import RedisSessionStore

MAX_LIST = 200
PAGE_MAX = 500  # rules per page of a listing (and the default page)


@dataclass(frozen=True, slots=True)
class PolicyPage:
    policies: list[Policy]
    next: str | None  # the cursor of the next page; None when this is the last


def _cursor(policy: Policy) -> str:
    """An opaque position after ``policy`` in creation order; it stays valid if the rule goes."""
    raw = f"{policy.created_at.isoformat()}|{policy.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _position(cursor: str) -> tuple[datetime, uuid.UUID]:
    """:raises ValidationError: not a cursor a listing gave."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, policy_id = raw.partition("|")
        at = datetime.fromisoformat(stamp)
        if at.tzinfo is None:
            raise ValueError("naive timestamp")
        # In UTC, as the listing issues them; a stamp whose UTC value no datetime holds (year 1
        # east of Greenwich) raises OverflowError here rather than fail in the database driver.
        return at.astimezone(timezone.utc), uuid.UUID(policy_id)
    except (ValueError, OverflowError) as e:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ValidationError("after is not a cursor a listing of policies gave.", field="after") from e


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made the change, for the audit trail."""

    kind: str
    id: str
    ip: str = ""
    user_agent: str = ""

    def context(self) -> dict:
        return {"actor": {"kind": self.kind, "id": self.id}, "ip": self.ip, "user_agent": self.user_agent[:256]}


def _names(values: list[str], what: str) -> list[str]:
    if len(values) > MAX_LIST:
        raise RuleError(f"At most {MAX_LIST} {what}.", field=what)
    for v in values:
        if not is_role_name(v):
            raise RuleError(f"Invalid role name in {what}.", field=what)
    return sorted(set(values))


class AuthzManager:
    def __init__(self, *, sessionmaker: async_sessionmaker, repository: AuthzRepository, users: UserRepository,
                 publisher: EventPublisher, relay: OutboxRelay, session_store: RedisSessionStore, redis: Redis,
                 version_key: str, channel: str, actions: frozenset[str]) -> None:
        self.sessionmaker = sessionmaker
        self.repository = repository
        self.users = users
        self.publisher = publisher
        self.relay = relay
        self.session_store = session_store
        self.redis = redis
        self.version_key = version_key
        self.channel = channel
        self.actions = actions

    # --- roles ------------------------------------------------------------------------

    async def list_roles(self) -> list[RoleRow]:
        async with self.sessionmaker() as session:
            return await self.repository.roles(session)

    async def get_role(self, name: str) -> RoleRow:
        """:raises NotFoundError: no such role."""
        async with self.sessionmaker() as session:
            return await self._role(session, name)

    async def create_role(self, name: str, *, description: str, permissions: list[str], parents: list[str],
                          actor: Actor) -> RoleRow:
        """:raises RoleExistsError, UnknownRoleError, InvalidPermissionError, RuleError:"""
        if not is_role_name(name):
            raise RuleError("Role names are 1-64 letters, digits, and _ . : -", field="name")
        permissions = self._permissions(permissions)
        parents = _names(parents, "parents")
        async with self.sessionmaker() as session, session.begin():
            await self.repository.lock_graph(session)
            if not await self.repository.create_role(session, name, description[:1000]):
                raise RoleExistsError(f"A role named {name} exists already.")
            await self._check_parents(session, name, parents)
            await self.repository.set_permissions(session, name, permissions)
            await self.repository.set_parents(session, name, parents)
            role = await self._role(session, name)
            event = self._role_event(name, "created", role, actor)
            outbox.stage(session, self.publisher, event)
        await self._changed([event])
        return role

    async def set_permissions(self, name: str, permissions: list[str], actor: Actor) -> RoleRow:
        permissions = self._permissions(permissions)
        async with self.sessionmaker() as session, session.begin():
            await self.repository.lock_graph(session)  # else a concurrent delete_role fails our insert
            await self._role(session, name)
            await self.repository.set_permissions(session, name, permissions)
            role = await self._role(session, name)
            event = self._role_event(name, "permissions_set", role, actor)
            outbox.stage(session, self.publisher, event)
        await self._changed([event])
        return role

    async def set_parents(self, name: str, parents: list[str], actor: Actor) -> RoleRow:
        """:raises RoleCycleError: the new parents would make the role inherit itself."""
        parents = _names(parents, "parents")
        async with self.sessionmaker() as session, session.begin():
            await self.repository.lock_graph(session)
            await self._role(session, name)
            await self._check_parents(session, name, parents)
            await self.repository.set_parents(session, name, parents)
            role = await self._role(session, name)
            event = self._role_event(name, "parents_set", role, actor)
            outbox.stage(session, self.publisher, event)
        await self._changed([event])
        return role

    async def delete_role(self, name: str, actor: Actor) -> None:
        async with self.sessionmaker() as session, session.begin():
            await self.repository.lock_graph(session)
            holders = await self.repository.holders(session, name)
            if not await self.repository.delete_role(session, name):
                await self._announce_retry()
                raise NotFoundError("No such role.")
            event = Event("auth.role.changed", None, {"role": name, "change": "deleted",
                                                      "holders": len(holders), **actor.context()})
            outbox.stage(session, self.publisher, event)
            # The holders' live sessions lose the role before the commit too: if Redis fails
            # here nothing is deleted and a retry starts over, where after the commit a retry
            # would find no role (404) and never reach those sessions.
            for user_id in holders:
                held = await self.users.by_id(session, user_id)
                if held is not None:
                    await self.session_store.update_profile(user_id, email=held.email, roles=held.roles)
        await self._changed([event], users=holders)

    # --- user roles -------------------------------------------------------------------

    async def user_roles(self, user_id: str) -> tuple[str, ...]:
        """:raises NotFoundError: no such user."""
        async with self.sessionmaker() as session:
            user = await self.users.by_id(session, user_id)
        if user is None:
            raise NotFoundError("No such user.")
        return user.roles

    async def set_user_roles(self, user_id: str, roles: list[str], actor: Actor, *,
                             mode: str = "set", may_touch: RolesCheck | None = None) -> tuple[str, ...]:
        """Replace (``set``), extend (``add``) or shrink (``remove``) a user's roles.
        ``may_touch``: the caller's check of the roles granted or taken away, run in the
        transaction (raising refuses the change; see app.http.admin.grant_check).

        :raises NotFoundError: no such user. :raises UnknownRoleError: a role does not exist.
        """
        roles = _names(roles, "roles")
        events = []
        async with self.sessionmaker() as session, session.begin():
            # Even "remove" rewrites the roles kept, which a concurrent delete_role may be deleting.
            await self.repository.lock_graph(session)
            user = await self.users.by_id(session, user_id)
            if user is None:
                raise NotFoundError("No such user.")
            before = set(user.roles)
            if mode != "remove":
                missing = set(roles) - await self.repository.existing(session, roles)
                if missing:
                    raise UnknownRoleError(f"No such role: {', '.join(sorted(missing))}.", roles=sorted(missing))
            after = {"set": set(roles), "add": before | set(roles), "remove": before - set(roles)}[mode]
            if may_touch is not None:
                # The caller's check on what this grants or takes away, judged on the roles as
                # they are now (the graph lock holds other role changes off until the commit).
                may_touch(before ^ after)
            if mode != "remove" and roles_claim_bytes(after) > ROLES_CLAIM_BUDGET:
                raise ValidationError(
                    f"A user's roles must fit in an access token: {ROLES_CLAIM_BUDGET} bytes of names "
                    f"(each name plus 3); these take {roles_claim_bytes(after)}.", field="roles")
            if after != before:
                await self.repository.set_user_roles(session, user.id, sorted(after))
                event = Event("auth.role.changed", user.id, {
                    "granted": sorted(after - before), "revoked": sorted(before - after),
                    "roles": sorted(after), **actor.context()})
                outbox.stage(session, self.publisher, event)
                events.append(event)
        # Even when nothing changed: a retried call may have committed, then failed on Redis
        # (both steps are idempotent). user.id, not the caller's spelling: it names Redis keys.
        await self._changed(events, users=[user.id])
        return tuple(sorted(after))

    # --- rules ------------------------------------------------------------------------

    async def list_policies(self, *, role: str | None = None, user_id: str | None = None,
                            limit: int = PAGE_MAX, after: str | None = None) -> PolicyPage:
        """One page of rules in creation order; ``next`` continues it (None on the last page).

        :raises RuleError: ``user_id`` is not a UUID. :raises ValidationError: ``after`` is not a
            cursor a listing gave, or ``limit`` is outside 1..PAGE_MAX.
        """
        if user_id is not None:
            try:
                uuid.UUID(user_id)
            except ValueError as e:
                raise RuleError("user_id must be a UUID.", field="user_id") from e
        if not 1 <= limit <= PAGE_MAX:
            raise ValidationError(f"limit is a whole number from 1 to {PAGE_MAX}.", field="limit")
        position = _position(after) if after is not None else None
        async with self.sessionmaker() as session:
            # One more than asked: whether it exists says whether there is a next page.
            rows = await self.repository.policies(session, role=role, user_id=user_id, limit=limit + 1,
                                                  after=position)
        page = rows[:limit]
        return PolicyPage(page, _cursor(page[-1]) if len(rows) > limit else None)

    async def get_policy(self, policy_id: str) -> Policy:
        async with self.sessionmaker() as session:
            policy = await self.repository.policy(session, policy_id)
        if policy is None:
            raise NotFoundError("No such policy.")
        return policy

    async def create_policy(self, *, effect, action, subject_type, conditions, fields, role: str | None,
                            user_id: str | None, description: str, actor: Actor) -> Policy:
        """Validate and store a rule.

        :raises UnknownActionError, RuleError: the rule is malformed (422).
        :raises UnknownRoleError, NotFoundError: the holder does not exist.
        """
        effect, action, subject_type, conditions, fields, _ = validate_rule(
            effect=effect, action=action, subject_type=subject_type, conditions_=conditions, fields=fields,
            actions=self.actions)
        if (role is None) == (user_id is None):
            raise RuleError("Attach the rule to exactly one of role or user_id.", field="role")
        async with self.sessionmaker() as session, session.begin():
            if role is not None:
                await self.repository.lock_graph(session)  # else a concurrent delete_role fails our insert
                if not await self.repository.existing(session, [role]):
                    raise UnknownRoleError(f"No such role: {role}.")
            else:
                holder = await self.users.by_id(session, user_id)
                if holder is None:
                    raise RuleError("No such user.", field="user_id")
                user_id = holder.id  # the event's subject in the one spelling consumers match on
            policy = Policy(id=uuid.uuid4(), effect=effect, action=action, subject_type=subject_type,
                            conditions=conditions, fields=list(fields) if fields else None, role_name=role,
                            user_id=uuid.UUID(user_id) if user_id else None, description=description[:1000])
            await self.repository.add_policy(session, policy)
            event = Event("auth.policy.changed", user_id, {
                "change": "created", "policy_id": str(policy.id), "effect": effect, "action": action,
                "subject_type": subject_type, "role": role, **actor.context()})
            outbox.stage(session, self.publisher, event)
        await self._changed([event])
        return policy

    async def delete_policy(self, policy_id: str, actor: Actor) -> None:
        """:raises NotFoundError: no such policy, or a concurrent call deleted it first."""
        async with self.sessionmaker() as session, session.begin():
            # DELETE ... RETURNING, not read-then-delete: of concurrent deletes only the one that
            # removed the row answers 204 and emits the event.
            deleted = await self.repository.delete_policy(session, policy_id)
            if deleted is None:
                await self._announce_retry()
                raise NotFoundError("No such policy.")
            deleted_id, user_id, role = deleted
            event = Event("auth.policy.changed", user_id, {
                "change": "deleted", "policy_id": deleted_id, "role": role, **actor.context()})
            outbox.stage(session, self.publisher, event)
        await self._changed([event])

    # --- helpers ----------------------------------------------------------------------

    async def _role(self, session: AsyncSession, name: str) -> RoleRow:
        rows = await self.repository.roles(session, name)
        if not rows:
            raise NotFoundError("No such role.")
        return rows[0]

    def _permissions(self, permissions: list[str]) -> list[str]:
        if len(permissions) > MAX_LIST:
            raise InvalidPermissionError(f"At most {MAX_LIST} permissions.", field="permissions")
        bad = [p for p in permissions if not is_valid_permission(p)]
        if bad:
            raise InvalidPermissionError(
                "Permissions are resource:action (lowercase, * for any), or * alone.", field="permissions")
        return sorted(set(permissions))

    async def _check_parents(self, session: AsyncSession, name: str, parents: list[str]) -> None:
        missing = set(parents) - await self.repository.existing(session, parents)
        if missing:
            raise UnknownRoleError(f"No such role: {', '.join(sorted(missing))}.", roles=sorted(missing))
        cycle = find_cycle(name, parents, await self.repository.parent_graph(session))
        if cycle is not None:
            raise RoleCycleError("Role inheritance would form a cycle: " + " -> ".join(cycle) + ".",
                                 cycle=cycle)

    @staticmethod
    def _role_event(name: str, change: str, role: RoleRow, actor: Actor) -> Event:
        return Event("auth.role.changed", None, {"role": name, "change": change,
                                                 "permissions": list(role.permissions),
                                                 "parents": list(role.parents), **actor.context()})

    async def _changed(self, events: list[Event], users: list[str] = ()) -> None:
        # The processes hear of the change first: the steps after it may fail on Redis (503),
        # and the change is committed whatever they do.
        await self.bump()
        if events:
            await self.relay.relay([e.id for e in events])
        for user_id in users:
            async with self.sessionmaker() as session:
                user = await self.users.by_id(session, user_id)
            roles = user.roles if user is not None else ()
            email = user.email if user is not None else ""
            await self.session_store.update_profile(user_id, email=email, roles=roles)

    async def _announce_retry(self) -> None:
        """A delete that finds nothing may be the retry of one that committed and then failed
        to announce itself (503): announce anyway, or every process keeps deciding with what
        was deleted, until some unrelated change. (A spurious announcement costs a reload.)"""
        await self.bump()

    async def bump(self) -> int:
        """A new policy version, announced to every web process."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(self.version_key)
            result = await pipe.execute()
        version = int(result[0])
        await self.redis.publish(self.channel, f"{MESSAGE_PREFIX}{version}")
        return version
