from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class PersistedQuery(Base):
    """A GraphQL document stored under its sha256 (Apollo APQ), shared by every server
    process. `trusted` documents were registered by an operator and are the only ones run
    in trusted-documents mode."""

    __tablename__ = "persisted_queries"
    __table_args__ = (CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_hex"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    trusted: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
