from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin


class SlotHold(IdMixin, Base):
    """A short hold on a doctor's slot while a patient checks out (the seeds' slot_locks).

    A hold counts only while `expires_at` is in the future; expired rows are ignored by
    every read and swept opportunistically, so no background job is needed."""

    __tablename__ = "slot_holds"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="time_range_valid"),
        Index("ix_slot_holds_doctor_id_starts_at", "doctor_id", "starts_at"),
        Index("ix_slot_holds_user_id_expires_at", "user_id", "expires_at"),
        Index("ix_slot_holds_expires_at", "expires_at"),
        Index("ix_slot_holds_service_id", "service_id"),
    )

    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE")
    )
    """The service held; a hold on a group session's slot holds one seat."""
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
