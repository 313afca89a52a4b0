from __future__ import annotations

import uuid
from datetime import date, time

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin
from models.enums import ExceptionKind, one_of, values

EXCEPTION_KINDS = values(ExceptionKind)


class AvailabilityException(IdMixin, TimestampMixin, Base):
    """A date on which the weekly rules do not apply: blocked, or replaced by custom hours."""

    __tablename__ = "availability_exceptions"
    __table_args__ = (
        CheckConstraint(one_of("kind", ExceptionKind), name="kind_valid"),
        CheckConstraint(
            "(kind = 'blocked' AND start_time IS NULL AND end_time IS NULL) OR "
            "(kind = 'custom_hours' AND start_time IS NOT NULL AND end_time IS NOT NULL "
            "AND start_time < end_time)",
            name="hours_match_kind",
        ),
        Index("ix_availability_exceptions_doctor_id_date", "doctor_id", "date"),
    )

    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))
    start_time: Mapped[time | None] = mapped_column(Time)
    end_time: Mapped[time | None] = mapped_column(Time)
    reason: Mapped[str] = mapped_column(Text, server_default="")
