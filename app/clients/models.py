"""API clients and their roles (the roles are the authz package's roles)."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base


class ApiClient(Base):
    __tablename__ = "api_clients"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    secret_hash: Mapped[str] = mapped_column(Text, nullable=False)  # argon2id
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    secret_rotated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                        nullable=False)


class ApiClientRole(Base):
    __tablename__ = "api_client_roles"

    client_pk: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("api_clients.id", ondelete="CASCADE"),
                                                 primary_key=True)
    role_name: Mapped[str] = mapped_column(String(64), ForeignKey("roles.name", ondelete="CASCADE"),
                                           primary_key=True)
