"""Authorization tables: role permissions, role inheritance edges, rules."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base


class RolePermission(Base):
    __tablename__ = "role_permissions"

    role_name: Mapped[str] = mapped_column(String(64), ForeignKey("roles.name", ondelete="CASCADE"),
                                           primary_key=True)
    permission: Mapped[str] = mapped_column(String(160), primary_key=True)


class RoleParent(Base):
    """``role_name`` inherits everything ``parent_name`` has."""

    __tablename__ = "role_parents"
    __table_args__ = (CheckConstraint("role_name <> parent_name", name="ck_role_parents_not_self"),)

    role_name: Mapped[str] = mapped_column(String(64), ForeignKey("roles.name", ondelete="CASCADE"),
                                           primary_key=True)
    parent_name: Mapped[str] = mapped_column(String(64), ForeignKey("roles.name", ondelete="CASCADE"),
                                             primary_key=True, index=True)


class Policy(Base):
    """One rule, attached to a role or to a user (exactly one of the two)."""

    __tablename__ = "policies"
    __table_args__ = (
        CheckConstraint("effect IN ('allow', 'deny')", name="ck_policies_effect"),
        CheckConstraint("(role_name IS NULL) <> (user_id IS NULL)", name="ck_policies_one_holder"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    effect: Mapped[str] = mapped_column(String(8), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    subject_type: Mapped[str] = mapped_column(String(64), nullable=False)
    conditions: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    fields: Mapped[list | None] = mapped_column(JSONB, nullable=True)
    role_name: Mapped[str | None] = mapped_column(String(64), ForeignKey("roles.name", ondelete="CASCADE"),
                                                  nullable=True, index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                      nullable=True, index=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
