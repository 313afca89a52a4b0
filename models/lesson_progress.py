from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin


class LessonProgress(IdMixin, TimestampMixin, Base):
    """How far one user got in one lesson. `completed_at` is set once and never moves."""

    __tablename__ = "lesson_progress"
    __table_args__ = (
        UniqueConstraint("user_id", "lesson_id"),
        CheckConstraint("position_sec >= 0", name="position_non_negative"),
        CheckConstraint(
            "(completed AND completed_at IS NOT NULL) OR (NOT completed AND completed_at IS NULL)",
            name="completed_at_matches",
        ),
        Index("ix_lesson_progress_lesson_id", "lesson_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lesson_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"))
    position_sec: Mapped[int] = mapped_column(Integer, server_default="0")
    completed: Mapped[bool] = mapped_column(Boolean, server_default="false")
    completed_at: Mapped[datetime | None]
    last_watched_at: Mapped[datetime] = mapped_column(server_default=func.now())
