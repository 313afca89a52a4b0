from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin
from models.enums import AppointmentStatus, AppointmentType, ServiceMode, one_of, values

APPOINTMENT_TYPES = values(AppointmentType)
APPOINTMENT_STATUSES = values(AppointmentStatus)
# Statuses that hold the doctor's time: two of these never overlap for one doctor (the
# seats of one group session share their time).
LIVE_STATUSES = (
    AppointmentStatus.REQUESTED.value,
    AppointmentStatus.PENDING_PAYMENT.value,
    AppointmentStatus.CONFIRMED.value,
)
_LIVE_SQL = "status IN ({})".format(", ".join(f"'{status}'" for status in LIVE_STATUSES))


class Appointment(IdMixin, TimestampMixin, Base):
    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="time_range_valid"),
        CheckConstraint(one_of("type", AppointmentType), name="type_valid"),
        CheckConstraint(one_of("status", AppointmentStatus), name="status_valid"),
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("discount >= 0 AND discount <= price", name="discount_range"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        CheckConstraint("reference ~ '^[2-9A-HJKMNP-TV-Z]{8}$'", name="reference_format"),
        CheckConstraint("seat >= 1", name="seat_positive"),
        CheckConstraint(one_of("mode", ServiceMode), name="mode_valid"),
        UniqueConstraint("reference", name="uq_appointments_reference"),
        # Backs up the per-doctor booking lock: one live appointment per doctor, start and
        # seat (a private appointment has seat 1; a group session numbers its seats).
        Index(
            "uq_appointments_doctor_id_starts_at_seat_live",
            "doctor_id",
            "starts_at",
            "seat",
            unique=True,
            postgresql_where=text(_LIVE_SQL),
        ),
        # And one live seat per patient in a session.
        Index(
            "uq_appointments_doctor_id_starts_at_patient_id_live",
            "doctor_id",
            "starts_at",
            "patient_id",
            unique=True,
            postgresql_where=text(_LIVE_SQL),
        ),
        Index("ix_appointments_service_id", "service_id"),
        Index("ix_appointments_doctor_id_starts_at", "doctor_id", "starts_at"),
        Index("ix_appointments_patient_id_starts_at", "patient_id", "starts_at"),
        Index("ix_appointments_status_starts_at", "status", "starts_at"),
        Index("ix_appointments_cancelled_by", "cancelled_by"),
        # Care-relationship checks of the goals and users policies (doctor -> patient).
        Index("ix_appointments_doctor_id_patient_id_status", "doctor_id", "patient_id", "status"),
        Index("ix_appointments_coupon_id", "coupon_id"),
        Index(
            "ix_appointments_payment_due_at_pending",
            "payment_due_at",
            postgresql_where=text("status = 'pending_payment'"),
        ),
    )

    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(20), server_default="standard")
    status: Mapped[str] = mapped_column(String(20), server_default="pending_payment")
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default="0")
    discount: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default="0")
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    notes: Mapped[str] = mapped_column(Text, server_default="")
    meeting_link: Mapped[str | None] = mapped_column(Text)
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    cancelled_at: Mapped[datetime | None]
    coupon_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("coupons.id", ondelete="SET NULL")
    )
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="RESTRICT")
    )
    """The service booked (null only for rows written before services existed and not
    migrated, which migration 0016 leaves none of)."""
    seat: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    mode: Mapped[str] = mapped_column(String(20), server_default="in_person")
    """The service's mode when booked (in person or video), as its price is."""
    intake_answers: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    """[{"question_key", "prompt", "kind", "answer"}]: the service's intake questions as asked."""
    payment_due_at: Mapped[datetime | None]
    """While PENDING_PAYMENT: when the booking lapses unless paid (its time is free to
    others from then on, before the lapse job cancels it)."""
    reference: Mapped[str] = mapped_column(String(8), server_default=text("booking_reference()"))
    """A short code for people (on the phone, at the desk): 8 of 30 unambiguous symbols,
    random (migration 0010), unique."""
