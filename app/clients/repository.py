"""API clients in Postgres (inside a caller's transaction)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import ApiClient, ApiClientRole
from app.db.models import Role


@dataclass(frozen=True, slots=True)
class ClientRecord:
    client_id: str
    name: str
    secret_hash: str
    disabled: bool
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClientSummary:
    """What an administrator may see of a client: never the secret or its hash."""

    client_id: str
    name: str
    roles: tuple[str, ...]
    disabled: bool
    created_at: datetime
    secret_rotated_at: datetime


class ClientRepository:
    async def by_client_id(self, session: AsyncSession, client_id: str) -> ClientRecord | None:
        row = await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
        if row is None:
            return None
        roles = tuple(await session.scalars(select(ApiClientRole.role_name).where(ApiClientRole.client_pk == row.id)
                                            .order_by(ApiClientRole.role_name)))
        return ClientRecord(row.client_id, row.name, row.secret_hash, row.disabled, roles)

    async def insert(self, session: AsyncSession, *, client_id: str, name: str, secret_hash: str,
                     roles: tuple[str, ...]) -> None:
        pk = uuid.uuid4()
        session.add(ApiClient(id=pk, client_id=client_id, name=name, secret_hash=secret_hash))
        await session.flush()
        for role in roles:
            await session.execute(insert(Role).values(name=role).on_conflict_do_nothing())
            await session.execute(insert(ApiClientRole).values(client_pk=pk, role_name=role).on_conflict_do_nothing())

    async def locked_roles(self, session: AsyncSession, client_id: str) -> tuple[str, ...] | None:
        """The client's roles with its row locked until the transaction ends (a concurrent
        ``set_roles`` waits), or None for no such client."""
        pk = await session.scalar(select(ApiClient.id).where(ApiClient.client_id == client_id).with_for_update())
        if pk is None:
            return None
        return tuple(await session.scalars(select(ApiClientRole.role_name).where(ApiClientRole.client_pk == pk)
                                           .order_by(ApiClientRole.role_name)))

    async def set_secret_hash(self, session: AsyncSession, client_id: str, secret_hash: str) -> bool:
        from sqlalchemy import func

        result = await session.execute(update(ApiClient).where(ApiClient.client_id == client_id)
                                       .values(secret_hash=secret_hash, secret_rotated_at=func.now())
                                       .returning(ApiClient.id))
        return result.first() is not None

    async def delete(self, session: AsyncSession, client_id: str) -> bool:
        result = await session.execute(delete(ApiClient).where(ApiClient.client_id == client_id)
                                       .returning(ApiClient.id))
        return result.first() is not None

    async def summaries(self, session: AsyncSession, client_id: str | None = None) -> list[ClientSummary]:
        """Every client (or the one named), oldest first; two queries whatever the count."""
        query = select(ApiClient.id, ApiClient.client_id, ApiClient.name, ApiClient.disabled, ApiClient.created_at,
                       ApiClient.secret_rotated_at).order_by(ApiClient.created_at, ApiClient.client_id)
        if client_id is not None:
            query = query.where(ApiClient.client_id == client_id)
        rows = list(await session.execute(query))
        if not rows:
            return []
        roles: dict[uuid.UUID, list[str]] = {}
        role_query = select(ApiClientRole.client_pk, ApiClientRole.role_name).order_by(ApiClientRole.role_name)
        if client_id is not None:
            role_query = role_query.where(ApiClientRole.client_pk == rows[0].id)
        for pk, role in await session.execute(role_query):
            roles.setdefault(pk, []).append(role)
        return [ClientSummary(r.client_id, r.name, tuple(roles.get(r.id, ())), r.disabled, r.created_at,
                              r.secret_rotated_at) for r in rows]

    async def lock_existing_roles(self, session: AsyncSession, names: list[str]) -> set[str]:
        """The roles among ``names`` that exist, share-locked until the transaction ends so a
        concurrent role deletion cannot slip between this check and the grant."""
        if not names:
            return set()
        return set(await session.scalars(select(Role.name).where(Role.name.in_(names)).with_for_update(read=True)))

    async def set_roles(self, session: AsyncSession, client_id: str,
                        roles: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """Replace the client's roles; (before, after), or None for no such client.

        The client row is locked so two concurrent replacements serialise."""
        pk = await session.scalar(select(ApiClient.id).where(ApiClient.client_id == client_id).with_for_update())
        if pk is None:
            return None
        before = tuple(await session.scalars(select(ApiClientRole.role_name)
                                             .where(ApiClientRole.client_pk == pk).order_by(ApiClientRole.role_name)))
        await session.execute(delete(ApiClientRole).where(ApiClientRole.client_pk == pk))
        if roles:
            await session.execute(insert(ApiClientRole).values([{"client_pk": pk, "role_name": r} for r in roles]))
        return before, tuple(sorted(roles))
