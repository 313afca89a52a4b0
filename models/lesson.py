from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin

SLUG_PATTERN = "^[a-z0-9]+(-[a-z0-9]+)*$"


class Lesson(IdMixin, TimestampMixin, Base):
    """A video lesson in a course module. `video_id` and `chapters` of a paywalled lesson
    are for entitled viewers only; everyone who may see the lesson sees the rest."""

    __tablename__ = "lessons"
    __table_args__ = (
        CheckConstraint(f"slug ~ '{SLUG_PATTERN}' AND length(slug) <= 100", name="slug_format"),
        CheckConstraint("length(title) BETWEEN 1 AND 200", name="title_length"),
        CheckConstraint("length(module) BETWEEN 1 AND 100", name="module_length"),
        CheckConstraint("position >= 0", name="position_non_negative"),
        CheckConstraint(
            "duration_sec IS NULL OR duration_sec BETWEEN 1 AND 86400", name="duration_range"
        ),
        CheckConstraint("jsonb_typeof(chapters) = 'array'", name="chapters_is_array"),
        Index("ix_lessons_module_position_id", "module", "position", "id"),
        Index("ix_lessons_published", "published"),
        Index("ix_lessons_tags", "tags", postgresql_using="gin"),
    )

    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default="")
    module: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    duration_sec: Mapped[int | None] = mapped_column(Integer)
    video_id: Mapped[str | None] = mapped_column(String(100))
    chapters: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    published: Mapped[bool] = mapped_column(Boolean, server_default="false")
    paywall: Mapped[bool] = mapped_column(Boolean, server_default="false")
