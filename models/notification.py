from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin
from models.enums import NotificationKind, one_of


class Notification(IdMixin, Base):
    """One entry of a user's inbox: what happened (`kind`), to what (`subject_type` and
    `subject_id`: an appointment, a payment, a post, a comment, a report, a goal), and
    by whom as a role. Written in the transaction of the change it tells about."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(one_of("kind", NotificationKind), name="kind_valid"),
        Index("ix_notifications_user_id_created_at_id", "user_id", "created_at", "id"),
        Index(
            "ix_notifications_user_id_unread",
            "user_id",
            postgresql_where=text("read_at IS NULL"),
        ),
        # One notification per key and user (a reminder per appointment, start and offset).
        Index(
            "uq_notifications_user_id_dedupe_key",
            "user_id",
            "dedupe_key",
            unique=True,
            postgresql_where=text("dedupe_key IS NOT NULL"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(40))
    """The subject's GraphQL type name (its global id is this type and `subject_id`)."""
    subject_id: Mapped[uuid.UUID]
    actor_role: Mapped[str | None] = mapped_column(String(10))
    """Who caused it, as a role (patient, doctor, staff, admin, coach, system)."""
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    """Details kept with it (the start of a booking, the amount of a payment)."""
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
    read_at: Mapped[datetime | None]
