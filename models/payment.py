from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin
from models.enums import PaymentMethod, PaymentStatus, one_of, values

PAYMENT_STATUSES = values(PaymentStatus)
PAYMENT_METHODS = values(PaymentMethod)


class Payment(IdMixin, TimestampMixin, Base):
    """A payment for an appointment, recorded by an admin or a provider webhook."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(one_of("status", PaymentStatus), name="status_valid"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        CheckConstraint(
            "(status = 'refunded') = (refunded_at IS NOT NULL)", name="refunded_at_matches"
        ),
        Index("ix_payments_appointment_id", "appointment_id"),
        Index("ix_payments_status_paid_at", "status", "paid_at"),
        Index("ix_payments_recorded_by", "recorded_by"),
        CheckConstraint(
            "amount_refunded >= 0 AND amount_refunded <= amount", name="amount_refunded_range"
        ),
        CheckConstraint(one_of("method", PaymentMethod), name="method_valid"),
        # One open checkout per appointment: a second startCheckout returns it.
        Index(
            "uq_payments_appointment_id_pending",
            "appointment_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "uq_payments_provider_provider_ref",
            "provider",
            "provider_ref",
            unique=True,
            postgresql_where=text("provider_ref IS NOT NULL"),
        ),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="RESTRICT")
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(40), server_default="manual")
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    paid_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    refund_reason: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    method: Mapped[str | None] = mapped_column(String(20))
    """How it was paid (cash, card, bank transfer at the desk; online with a provider)."""
    amount_refunded: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default="0")
    client_secret: Mapped[str | None] = mapped_column(Text)
    """While PENDING with a provider: what the patient's app needs to pay (Stripe's
    PaymentIntent client secret)."""
    failure_reason: Mapped[str | None] = mapped_column(Text)
