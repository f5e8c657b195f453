"""API clients in Postgres (inside a caller's transaction)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

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
