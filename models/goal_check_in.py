from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin
from models.enums import Mood, one_of, values
from models.goal import VALUE_PRECISION, VALUE_SCALE

MOODS = values(Mood)


class GoalCheckIn(IdMixin, TimestampMixin, Base):
    """One measurement of a goal's metric on a date; at most one per goal and date
    (a second check-in for the same date replaces the first)."""

    __tablename__ = "goal_check_ins"
    __table_args__ = (
        # Also the index for "a goal's check-ins, newest first".
        UniqueConstraint("goal_id", "date", name="uq_goal_check_ins_goal_id_date"),
        CheckConstraint(one_of("mood", Mood, nullable=True), name="mood_valid"),
        CheckConstraint("adherence IS NULL OR adherence BETWEEN 0 AND 100", name="adherence_range"),
    )

    goal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    value: Mapped[Decimal] = mapped_column(Numeric(VALUE_PRECISION, VALUE_SCALE))
    note: Mapped[str] = mapped_column(Text, server_default="")
    mood: Mapped[str | None] = mapped_column(String(20))
    adherence: Mapped[int | None] = mapped_column(SmallInteger)
