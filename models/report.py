from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin

REPORT_TARGET_TYPES = ("post", "comment")
REPORT_REASONS = ("spam", "harassment", "misinformation", "inappropriate", "other")
REPORT_STATUSES = ("pending", "dismissed", "actioned")
REPORT_ACTIONS = ("dismiss", "hide_content", "delete_content")


class Report(IdMixin, TimestampMixin, Base):
    """A user's report of a post or comment, reviewed by a coach or admin. The target
    is polymorphic (no foreign key) so the report outlives deleted content."""

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint("target_type IN ('post', 'comment')", name="target_type_valid"),
        CheckConstraint(
            "reason IN ('spam', 'harassment', 'misinformation', 'inappropriate', 'other')",
            name="reason_valid",
        ),
        CheckConstraint("status IN ('pending', 'dismissed', 'actioned')", name="status_valid"),
        CheckConstraint(
            "action IS NULL OR action IN ('dismiss', 'hide_content', 'delete_content')",
            name="action_valid",
        ),
        CheckConstraint("length(description) <= 2000", name="description_length"),
        CheckConstraint(
            "(status = 'pending') = (reviewed_at IS NULL AND action IS NULL)",
            name="review_matches_status",
        ),
        # One open report per reporter and item.
        Index(
            "uq_reports_reporter_id_target_pending",
            "reporter_id",
            "target_type",
            "target_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_reports_status_created_at_id", "status", "created_at", "id"),
        Index("ix_reports_target_type_target_id", "target_type", "target_id"),
        Index("ix_reports_reviewer_id", "reviewer_id"),
    )

    reporter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None]
    action: Mapped[str | None] = mapped_column(String(30))
