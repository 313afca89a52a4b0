from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin

# The product whose active entitlement unlocks paywalled lessons.
LESSONS_PRODUCT = "lessons"


class Entitlement(IdMixin, TimestampMixin, Base):
    """A user's right to a product until `valid_until` (open-ended when null). Revoking
    sets `revoked_at`; the row stays as history. One unrevoked row per user and product."""

    __tablename__ = "entitlements"
    __table_args__ = (
        CheckConstraint("product ~ '^[a-z0-9_]{1,50}$'", name="product_format"),
        Index(
            "uq_entitlements_user_id_product_active",
            "user_id",
            "product",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
        ),
        Index("ix_entitlements_user_id", "user_id"),
        Index("ix_entitlements_granted_by", "granted_by"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(50))
    valid_until: Mapped[datetime | None]
    granted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None]
