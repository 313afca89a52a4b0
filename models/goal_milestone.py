from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin
from models.goal import VALUE_PRECISION, VALUE_SCALE


class GoalMilestone(IdMixin, TimestampMixin, Base):
    """A checkpoint on the way to a goal, shown in `position` order (0, 1, 2, ...)."""

    __tablename__ = "goal_milestones"
    __table_args__ = (
        # Deferred so a reorder can swap positions inside one transaction.
        UniqueConstraint(
            "goal_id",
            "position",
            name="uq_goal_milestones_goal_id_position",
            deferrable=True,
            initially="DEFERRED",
        ),
        CheckConstraint("position >= 0", name="position_non_negative"),
        CheckConstraint("length(btrim(title)) > 0", name="title_not_blank"),
        CheckConstraint("completed = (completed_at IS NOT NULL)", name="completed_at_matches"),
        Index("ix_goal_milestones_goal_id_completed", "goal_id", "completed"),
    )

    goal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default="")
    target_date: Mapped[date | None] = mapped_column(Date)
    target_value: Mapped[Decimal | None] = mapped_column(Numeric(VALUE_PRECISION, VALUE_SCALE))
    reward: Mapped[str] = mapped_column(Text, server_default="")
    position: Mapped[int] = mapped_column(SmallInteger)
    completed: Mapped[bool] = mapped_column(Boolean, server_default="false")
    completed_at: Mapped[datetime | None]
