"""Users and their roles in Postgres."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, bindparam, exists, func, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.clock import now_s
from app.db.models import Role, User, UserRole
from app.db.prepared import PreparedRead
from app.mfa.models import TotpCredential


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    email: str
    password_hash: str
    disabled: bool
    roles: tuple[str, ...]
    mfa_enabled: bool = False  # a confirmed second factor: login then needs a code
    # When the read began (before the query's snapshot). A session or token resting on these
    # credentials is dated no later, so a password change or forced logout that commits after
    # the read (while the login hashed) sets an epoch at or after it and ends what it opened.
    read_at: float = 0.0


def fold_email(email: str) -> str:
    return email.strip().casefold()


class UserRepository:
    """Reads and writes users inside a caller's transaction."""

    async def by_email(self, session: AsyncSession, email: str) -> UserRecord | None:
        return await self._one(session, User.email == fold_email(email))

    async def by_id(self, session: AsyncSession, user_id: str) -> UserRecord | None:
        try:
            uid = uuid.UUID(user_id)
        except ValueError:
            return None
        return await self._one(session, User.id == uid)

    async def for_login(self, engine: AsyncEngine, email: str) -> UserRecord | None:
        """``by_email`` outside any transaction, at a fraction of the CPU (every login reads this)."""
        read_at = now_s()
        return _record(await _FOR_LOGIN.first(engine, email=fold_email(email)), read_at)

    async def _one(self, session: AsyncSession, where) -> UserRecord | None:
        read_at = now_s()
        return _record((await session.execute(_user_query(where))).first(), read_at)

    async def insert(self, session: AsyncSession, email: str, password_hash: str) -> str | None:
        """Insert a user; returns None, changing nothing, when the email is taken."""
        user_id = uuid.uuid4()
        result = await session.execute(
            insert(User).values(id=user_id, email=fold_email(email), password_hash=password_hash)
            .on_conflict_do_nothing(index_elements=[User.email]).returning(User.id))
        row = result.first()
        return str(row[0]) if row else None

    async def rehash_password(self, session: AsyncSession, user_id: str, password_hash: str, *,
                              replacing: str) -> bool:
        """The same password under new hashing parameters, over the hash ``replacing`` (the one
        the caller checked it against); False, changing nothing, when another write replaced
        it first: a rehash must not undo a password change. Not a change: when the password
        last changed stays as it was."""
        result = await session.execute(update(User).where(User.id == uuid.UUID(user_id),
                                                          User.password_hash == replacing)
                                       .values(password_hash=password_hash))
        return result.rowcount == 1

    async def password_state(self, session: AsyncSession, user_id: str) -> tuple[str, datetime] | None:
        """(the password hash, when the password last changed), read together."""
        row = (await session.execute(select(User.password_hash, User.password_changed_at)
                                     .where(User.id == uuid.UUID(user_id)))).first()
        return (row[0], row[1]) if row else None

    async def change_password(self, session: AsyncSession, user_id: str, password_hash: str, *,
                              changed_at: datetime) -> bool:
        """A new password over the one last changed at ``changed_at`` (``password_state``, read
        with the hash the caller checked), on an enabled account; False, changing nothing, when
        another change or a disable came first. A rehash is no change, so it does not count."""
        result = await session.execute(
            update(User).where(User.id == uuid.UUID(user_id), User.password_changed_at == changed_at,
                               User.disabled.is_(False))
            .values(password_hash=password_hash, password_changed_at=func.now()))
        return result.rowcount == 1

    async def set_disabled(self, session: AsyncSession, user_id: str, disabled: bool) -> None:
        await session.execute(update(User).where(User.id == uuid.UUID(user_id)).values(disabled=disabled))

    async def grant_role(self, session: AsyncSession, user_id: str, role: str) -> bool:
        """Grant ``role`` (created if absent); returns False when already held."""
        await session.execute(insert(Role).values(name=role).on_conflict_do_nothing())
        result = await session.execute(
            insert(UserRole).values(user_id=uuid.UUID(user_id), role_name=role)
            .on_conflict_do_nothing().returning(UserRole.role_name))
        return result.first() is not None

    async def revoke_role(self, session: AsyncSession, user_id: str, role: str) -> bool:
        from sqlalchemy import delete

        result = await session.execute(
            delete(UserRole).where(UserRole.user_id == uuid.UUID(user_id), UserRole.role_name == role)
            .returning(UserRole.role_name))
        return result.first() is not None

    async def locked_roles(self, session: AsyncSession, user_id: str) -> tuple[str, ...] | None:
        """The user's roles with the user's row locked FOR UPDATE until the transaction ends,
        or None for no such user. Granting a role inserts a user_roles row, whose foreign
        key check takes FOR KEY SHARE on that same row: a grant waits for this transaction,
        and this lock for a grant in flight (whose role the read below then sees)."""
        found = await session.scalar(select(User.id).where(User.id == uuid.UUID(user_id)).with_for_update())
        if found is None:
            return None
        return await self.roles_of(session, found)

    async def roles_of(self, session: AsyncSession, user_id: uuid.UUID) -> tuple[str, ...]:
        rows = await session.scalars(
            select(UserRole.role_name).where(UserRole.user_id == user_id).order_by(UserRole.role_name))
        return tuple(rows)


def _user_query(where) -> Select:
    # The user, their roles and whether a second factor is on, in one round trip.
    roles = func.array_remove(func.array_agg(aggregate_order_by(UserRole.role_name, UserRole.role_name)), None)
    mfa = exists().where(TotpCredential.user_id == User.id, TotpCredential.confirmed_at.is_not(None))
    return (select(User.id, User.email, User.password_hash, User.disabled, roles, mfa.label("mfa"))
            .outerjoin(UserRole, UserRole.user_id == User.id).where(where).group_by(User.id))


def _record(row, read_at: float) -> UserRecord | None:
    if row is None:
        return None
    uid, email, password_hash, disabled, role_names, mfa_enabled = row
    return UserRecord(id=str(uid), email=email, password_hash=password_hash, disabled=disabled,
                      roles=tuple(role_names or ()), mfa_enabled=bool(mfa_enabled), read_at=read_at)


_FOR_LOGIN = PreparedRead(_user_query(User.email == bindparam("email")))
