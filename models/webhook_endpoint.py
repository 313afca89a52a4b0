from __future__ import annotations

import uuid

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin
from models.enums import NotificationKind, values

MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200


def _kinds_known() -> str:
    listed = ", ".join(f"'{kind}'" for kind in values(NotificationKind))
    return f"cardinality(kinds) > 0 AND kinds <@ ARRAY[{listed}]::text[]"


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    """Where a clinic's provider (SMS, e-mail, push) receives events: each notification of
    one of `kinds` is POSTed to `url`, signed with `secret` (HMAC-SHA256). Admins manage
    them; an inactive endpoint gets nothing."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint(_kinds_known(), name="kinds_known"),
        CheckConstraint(
            f"url ~ '^https?://' AND length(url) <= {MAX_URL_LENGTH}", name="url_format"
        ),
        CheckConstraint(
            f"length(description) <= {MAX_DESCRIPTION_LENGTH}", name="description_length"
        ),
        CheckConstraint("length(secret) >= 32", name="secret_length"),
        Index("ix_webhook_endpoints_created_at_id", "created_at", "id"),
        Index("ix_webhook_endpoints_created_by", "created_by"),
    )

    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION_LENGTH), server_default="")
    kinds: Mapped[list[str]] = mapped_column(ARRAY(Text))
    """The notification kinds sent here (`models.enums.NotificationKind` values)."""
    secret: Mapped[str] = mapped_column(String(100))
    """The HMAC key; shown once, when made or rotated (never in a read)."""
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
