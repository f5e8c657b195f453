"""What a refresh needs from Postgres when Redis does not know it: is the account
still active, and its roles now. One prepared read (app.db.prepared), no session.
"""
from __future__ import annotations

import uuid

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import User, UserRole
from app.db.prepared import PreparedRead

_ACTIVE_ROLES = PreparedRead(
    select(User.disabled, func.array_remove(func.array_agg(UserRole.role_name), None))
    .outerjoin(UserRole, UserRole.user_id == User.id).where(User.id == bindparam("uid")).group_by(User.id))


async def active_roles(engine: AsyncEngine, user_id: str) -> tuple[str, ...] | None:
    """The user's directly held roles, or None if the account is gone or disabled."""
    try:
        uid = uuid.UUID(user_id)
    except ValueError:
        return None
    row = await _ACTIVE_ROLES.first(engine, uid=uid)
    if row is None or row[0]:
        return None
    return tuple(sorted(row[1] or ()))
