from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.enums import AppRole, one_of, values

APP_ROLES = values(AppRole)


class UserRole(Base):
    """An app role granted to a user (the seeds' `has_role()` table)."""

    __tablename__ = "user_roles"
    __table_args__ = (CheckConstraint(one_of("role", AppRole), name="role_valid"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
