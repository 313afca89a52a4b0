from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin


class CoachClient(IdMixin, Base):
    """A client assigned to a coach by an admin (seed 002): the coach reads the client's
    goals, milestones and check-ins, and no one else's."""

    __tablename__ = "coach_clients"
    __table_args__ = (
        UniqueConstraint("coach_id", "client_id", name="uq_coach_clients_coach_id_client_id"),
        CheckConstraint("coach_id <> client_id", name="not_self"),
        # The goals policy's check: "is this owner a client of this coach".
        Index("ix_coach_clients_client_id_coach_id", "client_id", "coach_id"),
    )

    coach_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    assigned_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
