from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Numeric, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin
from models.enums import CheckInFrequency, GoalStatus, GoalType, one_of, values

GOAL_TYPES = values(GoalType)
GOAL_STATUSES = values(GoalStatus)
CHECK_IN_FREQUENCIES = values(CheckInFrequency)
# Measured values: numeric(12, 3), i.e. up to 999,999,999.999 in magnitude.
VALUE_PRECISION = 12
VALUE_SCALE = 3


class Goal(IdMixin, TimestampMixin, Base):
    """A SMART goal of one person: a measurable metric moving from a baseline to a target
    between a start and a target date. `current_value` follows the newest check-in."""

    __tablename__ = "goals"
    __table_args__ = (
        CheckConstraint(one_of("type", GoalType), name="type_valid"),
        CheckConstraint(one_of("status", GoalStatus), name="status_valid"),
        CheckConstraint(
            one_of("check_in_frequency", CheckInFrequency), name="check_in_frequency_valid"
        ),
        CheckConstraint("importance BETWEEN 1 AND 5", name="importance_range"),
        CheckConstraint("length(btrim(title)) > 0", name="title_not_blank"),
        CheckConstraint("target_date IS NULL OR target_date >= start_date", name="dates_in_order"),
        CheckConstraint(
            "(status = 'completed') = (completed_at IS NOT NULL)", name="completed_at_matches"
        ),
        Index("ix_goals_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_goals_status_created_at", "status", "created_at"),
        Index("ix_goals_type", "type"),
        Index("ix_goals_target_date", "target_date"),
        Index("ix_goals_created_at_id", "created_at", "id"),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default="")
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    metric: Mapped[str] = mapped_column(Text, server_default="")
    unit: Mapped[str] = mapped_column(String(40), server_default="")
    baseline_value: Mapped[Decimal] = mapped_column(Numeric(VALUE_PRECISION, VALUE_SCALE))
    target_value: Mapped[Decimal] = mapped_column(Numeric(VALUE_PRECISION, VALUE_SCALE))
    current_value: Mapped[Decimal] = mapped_column(Numeric(VALUE_PRECISION, VALUE_SCALE))
    start_date: Mapped[date] = mapped_column(Date)
    target_date: Mapped[date | None] = mapped_column(Date)
    check_in_frequency: Mapped[str] = mapped_column(String(20), server_default="weekly")
    importance: Mapped[int] = mapped_column(SmallInteger, server_default="3")
    completed_at: Mapped[datetime | None]
