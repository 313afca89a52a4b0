from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin


class ClinicalNote(IdMixin, TimestampMixin, Base):
    """A doctor's private note on one of their appointments: readable by that doctor and
    admins only, never the patient or the front desk."""

    __tablename__ = "clinical_notes"
    __table_args__ = (
        CheckConstraint("length(btrim(body)) BETWEEN 1 AND 10000", name="body_length"),
        Index("ix_clinical_notes_appointment_id_created_at", "appointment_id", "created_at"),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE")
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
