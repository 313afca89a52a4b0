from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin
from models.enums import RefundStatus, one_of, values

REFUND_STATUSES = values(RefundStatus)


class Refund(IdMixin, TimestampMixin, Base):
    """Money given back on a payment: by whom (or by which rule) and why, and where the
    provider stands with it. A payment's succeeded refunds never exceed what was paid."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint(one_of("status", RefundStatus), name="status_valid"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        Index("ix_refunds_payment_id", "payment_id"),
        Index("ix_refunds_requested_by", "requested_by"),
        Index(
            "uq_refunds_provider_ref",
            "provider_ref",
            unique=True,
            postgresql_where=text("provider_ref IS NOT NULL"),
        ),
    )

    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    reason: Mapped[str] = mapped_column(Text, server_default="")
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    requested_role: Mapped[str] = mapped_column(String(10))
    """patient, doctor, staff, admin, service, system (a policy refund)."""
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    succeeded_at: Mapped[datetime | None]
