"""Roles, their permissions and parents, and rules in Postgres (inside a caller's transaction)."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.authz import conditions
from app.authz.errors import RuleError
from app.authz.models import Policy, RoleParent, RolePermission
from app.authz.rules import RuleSpec
from app.db.models import Role, UserRole

log = logging.getLogger("app.authz")

# One advisory lock serialises role-graph writes, so two concurrent edits cannot
# each pass the cycle check and together close a cycle.
_GRAPH_LOCK = 0x617574687a  # "authz"


@dataclass(frozen=True)
class Snapshot:
    """Everything the authorizer needs, read in one go for one policy version."""

    version: str
    roles: frozenset[str]
    parents: dict[str, tuple[str, ...]]
    permissions: dict[str, tuple[str, ...]]
    role_rules: dict[str, tuple[RuleSpec, ...]]
    user_rules: dict[str, tuple[RuleSpec, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoleRow:
    name: str
    description: str
    permissions: tuple[str, ...]
    parents: tuple[str, ...]


def spec_of(row: Policy) -> RuleSpec:
    return RuleSpec(id=str(row.id), effect=row.effect, action=row.action, subject_type=row.subject_type,
                    conditions=row.conditions, fields=tuple(row.fields) if row.fields else None,
                    role=row.role_name, user_id=str(row.user_id) if row.user_id else None,
                    node=_stored_conditions(row))


def _stored_conditions(row: Policy) -> conditions.Node:
    """The condition tree of a stored rule (validated on the way in; parsed again to rebuild it)."""
    try:
        return conditions.parse(row.conditions)
    except RuleError as e:
        # Stored under older checks (a placeholder inside a list was once kept as literal text)
        # and refused now. One such rule must not break every decision, nor count as written:
        # it fails closed, a deny applying to everything it names and an allow to nothing.
        log.warning("policy %s no longer parses (%s); it fails closed until rewritten or deleted", row.id, e.detail)
        return conditions.UNREADABLE


class AuthzRepository:
    async def snapshot(self, session: AsyncSession, version: str) -> Snapshot:
        roles = frozenset(await session.scalars(select(Role.name)))
        parents: dict[str, list[str]] = {}
        for role, parent in await session.execute(select(RoleParent.role_name, RoleParent.parent_name)):
            parents.setdefault(role, []).append(parent)
        permissions: dict[str, list[str]] = {}
        for role, permission in await session.execute(select(RolePermission.role_name, RolePermission.permission)):
            permissions.setdefault(role, []).append(permission)
        role_rules: dict[str, list[RuleSpec]] = {}
        user_rules: dict[str, list[RuleSpec]] = {}
        for row in await session.scalars(select(Policy).order_by(Policy.created_at, Policy.id)):
            spec = spec_of(row)
            if spec.role:
                role_rules.setdefault(spec.role, []).append(spec)
            else:
                user_rules.setdefault(spec.user_id, []).append(spec)
        return Snapshot(version=version, roles=roles,
                        parents={k: tuple(v) for k, v in parents.items()},
                        permissions={k: tuple(v) for k, v in permissions.items()},
                        role_rules={k: tuple(v) for k, v in role_rules.items()},
                        user_rules={k: tuple(v) for k, v in user_rules.items()})

    async def lock_graph(self, session: AsyncSession) -> None:
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _GRAPH_LOCK})

    async def roles(self, session: AsyncSession, name: str | None = None) -> list[RoleRow]:
        query = select(Role).order_by(Role.name)
        if name is not None:
            query = query.where(Role.name == name)
        rows = list(await session.scalars(query))
        names = [r.name for r in rows]
        perms: dict[str, list[str]] = {}
        for role, permission in await session.execute(
                select(RolePermission.role_name, RolePermission.permission)
                .where(RolePermission.role_name.in_(names)).order_by(RolePermission.permission)):
            perms.setdefault(role, []).append(permission)
        parents: dict[str, list[str]] = {}
        for role, parent in await session.execute(
                select(RoleParent.role_name, RoleParent.parent_name)
                .where(RoleParent.role_name.in_(names)).order_by(RoleParent.parent_name)):
            parents.setdefault(role, []).append(parent)
        return [RoleRow(r.name, r.description, tuple(perms.get(r.name, ())), tuple(parents.get(r.name, ())))
                for r in rows]

    async def existing(self, session: AsyncSession, names: list[str]) -> set[str]:
        if not names:
            return set()
        return set(await session.scalars(select(Role.name).where(Role.name.in_(names))))

    async def parent_graph(self, session: AsyncSession) -> dict[str, tuple[str, ...]]:
        graph: dict[str, list[str]] = {}
        for role, parent in await session.execute(select(RoleParent.role_name, RoleParent.parent_name)):
            graph.setdefault(role, []).append(parent)
        return {k: tuple(v) for k, v in graph.items()}

    async def create_role(self, session: AsyncSession, name: str, description: str) -> bool:
        result = await session.execute(insert(Role).values(name=name, description=description)
                                       .on_conflict_do_nothing().returning(Role.name))
        return result.first() is not None

    async def delete_role(self, session: AsyncSession, name: str) -> bool:
        result = await session.execute(delete(Role).where(Role.name == name).returning(Role.name))
        return result.first() is not None

    async def set_permissions(self, session: AsyncSession, name: str, permissions: list[str]) -> None:
        await session.execute(delete(RolePermission).where(RolePermission.role_name == name))
        if permissions:
            await session.execute(insert(RolePermission).values(
                [{"role_name": name, "permission": p} for p in permissions]))

    async def set_parents(self, session: AsyncSession, name: str, parents: list[str]) -> None:
        await session.execute(delete(RoleParent).where(RoleParent.role_name == name))
        if parents:
            await session.execute(insert(RoleParent).values(
                [{"role_name": name, "parent_name": p} for p in parents]))

    async def holders(self, session: AsyncSession, name: str) -> list[str]:
        return [str(u) for u in await session.scalars(select(UserRole.user_id).where(UserRole.role_name == name))]

    async def set_user_roles(self, session: AsyncSession, user_id: str, roles: list[str]) -> None:
        uid = uuid.UUID(user_id)
        await session.execute(delete(UserRole).where(UserRole.user_id == uid))
        if roles:
            await session.execute(insert(UserRole).values([{"user_id": uid, "role_name": r} for r in roles]))

    async def policies(self, session: AsyncSession, *, role: str | None = None, user_id: str | None = None,
                       limit: int, after: tuple[datetime, uuid.UUID] | None = None) -> list[Policy]:
        """Up to ``limit`` rules in creation order, from just past the ``(created_at, id)`` of ``after``."""
        query = select(Policy).order_by(Policy.created_at, Policy.id).limit(limit)
        if after is not None:
            # Keyset, not OFFSET: a rule deleted between pages shifts nothing.
            query = query.where(tuple_(Policy.created_at, Policy.id) > tuple_(
                literal(after[0], Policy.created_at.type), literal(after[1], Policy.id.type)))
        if role is not None:
            query = query.where(Policy.role_name == role)
        if user_id is not None:
            query = query.where(Policy.user_id == uuid.UUID(user_id))
        return list(await session.scalars(query))

    async def policy(self, session: AsyncSession, policy_id: str) -> Policy | None:
        try:
            pid = uuid.UUID(policy_id)
        except ValueError:
            return None
        return await session.get(Policy, pid)

    async def add_policy(self, session: AsyncSession, policy: Policy) -> None:
        session.add(policy)
        await session.flush()

    async def delete_policy(self, session: AsyncSession,
                            policy_id: str) -> tuple[str, str | None, str | None] | None:
        """Delete one rule; (its id, user id, role) when this call deleted it, None when there was
        none to delete (of concurrent deletes, exactly one gets the row)."""
        try:
            pid = uuid.UUID(policy_id)
        except ValueError:
            return None
        row = (await session.execute(
            delete(Policy).where(Policy.id == pid).returning(Policy.user_id, Policy.role_name))).first()
        if row is None:
            return None
        return str(pid), (str(row.user_id) if row.user_id else None), row.role_name
