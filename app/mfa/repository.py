"""MFA rows in Postgres, inside the caller's transaction. The one-time rules
(a time step used once, a recovery code used once) are conditional UPDATEs, so
two concurrent logins cannot both win."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.mfa.models import RecoveryCode, TotpCredential


@dataclass(frozen=True, slots=True)
class TotpRow:
    secret_sealed: str
    confirmed: bool


class MfaRepository:
    async def totp_of(self, session: AsyncSession, user_id: str) -> TotpRow | None:
        row = await session.get(TotpCredential, uuid.UUID(user_id))
        return TotpRow(row.secret_sealed, row.confirmed_at is not None) if row else None

    async def enabled(self, session: AsyncSession, user_id: str) -> bool:
        return bool(await session.scalar(
            select(func.count()).select_from(TotpCredential)
            .where(TotpCredential.user_id == uuid.UUID(user_id), TotpCredential.confirmed_at.is_not(None))))

    async def start_setup(self, session: AsyncSession, user_id: str, sealed: str) -> bool:
        """Store a pending secret (replacing a pending one); False if MFA is already confirmed."""
        result = await session.execute(
            insert(TotpCredential).values(user_id=uuid.UUID(user_id), secret_sealed=sealed)
            .on_conflict_do_update(index_elements=[TotpCredential.user_id],
                                   set_={"secret_sealed": sealed, "last_step": None, "created_at": func.now()},
                                   where=TotpCredential.confirmed_at.is_(None))
            .returning(TotpCredential.user_id))
        return result.first() is not None

    async def confirm(self, session: AsyncSession, user_id: str, step: int, sealed: str) -> bool:
        """Enable the pending secret ``sealed`` (the one the code was checked against): False if it
        is no longer the pending one (confirmed, or replaced by a newer setup)."""
        result = await session.execute(
            update(TotpCredential)
            .where(TotpCredential.user_id == uuid.UUID(user_id), TotpCredential.confirmed_at.is_(None),
                   TotpCredential.secret_sealed == sealed)
            .values(confirmed_at=func.now(), last_step=step).returning(TotpCredential.user_id))
        return result.first() is not None

    async def use_step(self, session: AsyncSession, user_id: str, step: int) -> bool:
        """Claim time step ``step``: False if it (or a later one) was already used."""
        result = await session.execute(
            update(TotpCredential)
            .where(TotpCredential.user_id == uuid.UUID(user_id), TotpCredential.confirmed_at.is_not(None),
                   func.coalesce(TotpCredential.last_step, -1) < step)
            .values(last_step=step).returning(TotpCredential.user_id))
        return result.first() is not None

    async def replace_recovery_codes(self, session: AsyncSession, user_id: str, hashes: list[str]) -> None:
        uid = uuid.UUID(user_id)
        await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == uid))
        session.add_all([RecoveryCode(user_id=uid, code_hash=h) for h in hashes])

    async def use_recovery_code(self, session: AsyncSession, user_id: str, code_hash: str) -> bool:
        result = await session.execute(
            update(RecoveryCode)
            .where(RecoveryCode.user_id == uuid.UUID(user_id), RecoveryCode.code_hash == code_hash,
                   RecoveryCode.used_at.is_(None))
            .values(used_at=func.now()).returning(RecoveryCode.code_hash))
        return result.first() is not None

    async def recovery_codes_left(self, session: AsyncSession, user_id: str) -> int:
        return int(await session.scalar(
            select(func.count()).select_from(RecoveryCode)
            .where(RecoveryCode.user_id == uuid.UUID(user_id), RecoveryCode.used_at.is_(None))) or 0)

    async def remove(self, session: AsyncSession, user_id: str) -> bool:
        uid = uuid.UUID(user_id)
        await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == uid))
        result = await session.execute(
            delete(TotpCredential).where(TotpCredential.user_id == uid).returning(TotpCredential.user_id))
        return result.first() is not None
