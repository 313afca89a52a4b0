from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Numeric, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin


class CouponUsage(IdMixin, Base):
    """One redemption of a coupon by a user for one appointment."""

    __tablename__ = "coupon_usages"
    __table_args__ = (
        CheckConstraint("discount >= 0", name="discount_non_negative"),
        Index("ix_coupon_usages_coupon_id_user_id", "coupon_id", "user_id"),
        Index("ix_coupon_usages_user_id", "user_id"),
    )

    coupon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), unique=True
    )
    discount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
