from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin
from models.enums import CouponKind, one_of, values

COUPON_KINDS = values(CouponKind)


class Coupon(IdMixin, TimestampMixin, Base):
    """A discount code. `doctor_id` null means platform-wide (admins only)."""

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint(one_of("kind", CouponKind), name="kind_valid"),
        CheckConstraint("code = upper(code) AND length(code) BETWEEN 3 AND 40", name="code_format"),
        CheckConstraint("value > 0 AND (kind <> 'percent' OR value <= 100)", name="value_range"),
        CheckConstraint(
            "(kind = 'fixed' AND currency ~ '^[A-Z]{3}$') OR "
            "(kind = 'percent' AND currency IS NULL)",
            name="currency_matches_kind",
        ),
        CheckConstraint("max_uses IS NULL OR max_uses > 0", name="max_uses_positive"),
        CheckConstraint(
            "max_uses_per_user IS NULL OR max_uses_per_user > 0", name="max_uses_per_user_positive"
        ),
        CheckConstraint("used_count >= 0", name="used_count_non_negative"),
        CheckConstraint(
            "max_uses IS NULL OR used_count <= max_uses", name="used_count_within_limit"
        ),
        CheckConstraint(
            "valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from",
            name="validity_window",
        ),
        Index("ix_coupons_doctor_id_created_at", "doctor_id", "created_at"),
        Index("ix_coupons_created_by", "created_by"),
    )

    code: Mapped[str] = mapped_column(String(40), unique=True)
    doctor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("doctors.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    max_uses: Mapped[int | None] = mapped_column(Integer)
    max_uses_per_user: Mapped[int | None] = mapped_column(Integer)
    used_count: Mapped[int] = mapped_column(Integer, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
