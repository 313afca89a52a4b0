from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin
from models.enums import ReportAction, ReportReason, ReportStatus, ReportTargetType, one_of, values

REPORT_TARGET_TYPES = values(ReportTargetType)
REPORT_REASONS = values(ReportReason)
REPORT_STATUSES = values(ReportStatus)
REPORT_ACTIONS = values(ReportAction)


class Report(IdMixin, TimestampMixin, Base):
    """A user's report of a post or comment, reviewed by a coach or admin. The target
    is polymorphic (no foreign key) so the report outlives deleted content."""

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(one_of("target_type", ReportTargetType), name="target_type_valid"),
        CheckConstraint(one_of("reason", ReportReason), name="reason_valid"),
        CheckConstraint(one_of("status", ReportStatus), name="status_valid"),
        CheckConstraint(one_of("action", ReportAction, nullable=True), name="action_valid"),
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
