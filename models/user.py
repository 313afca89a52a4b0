from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin


class User(TimestampMixin, Base):
    """Mirror of an auth user; the id is the JWT `sub`."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    full_name: Mapped[str] = mapped_column(Text, server_default="")
    phone: Mapped[str | None] = mapped_column(String(40))
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    avatar_url: Mapped[str | None] = mapped_column(Text)
    deactivated_at: Mapped[datetime | None]
    """Set by an admin: the account's tokens are refused from then on; its history stays."""
