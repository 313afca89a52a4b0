from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, SmallInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin


class Review(IdMixin, TimestampMixin, Base):
    """A patient's review of one completed appointment; feeds the doctor's rating."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("length(comment) <= 2000", name="comment_length"),
        Index("ix_reviews_doctor_id_created_at_id", "doctor_id", "created_at", "id"),
        Index("ix_reviews_patient_id", "patient_id"),
        Index("ix_reviews_featured", "featured"),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), unique=True
    )
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, server_default="")
    featured: Mapped[bool] = mapped_column(Boolean, server_default="false")
    featured_at: Mapped[datetime | None]
