from __future__ import annotations

import uuid
from datetime import time

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, SmallInteger, Time
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin


class DoctorAvailability(IdMixin, TimestampMixin, Base):
    """One weekly rule: on `day_of_week` (0 = Sunday) between start and end, local time."""

    __tablename__ = "doctor_availability"
    __table_args__ = (
        CheckConstraint("day_of_week BETWEEN 0 AND 6", name="day_of_week_range"),
        CheckConstraint("start_time < end_time", name="time_range_valid"),
        CheckConstraint("slot_minutes BETWEEN 5 AND 480", name="slot_minutes_range"),
        CheckConstraint("buffer_minutes BETWEEN 0 AND 240", name="buffer_minutes_range"),
        CheckConstraint(
            "max_patients_per_day IS NULL OR max_patients_per_day > 0", name="max_patients_positive"
        ),
        Index("ix_doctor_availability_doctor_id_day_of_week", "doctor_id", "day_of_week"),
    )

    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    day_of_week: Mapped[int] = mapped_column(SmallInteger)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    slot_minutes: Mapped[int] = mapped_column(SmallInteger, server_default="30")
    buffer_minutes: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    max_patients_per_day: Mapped[int | None] = mapped_column(SmallInteger)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
