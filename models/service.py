from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin
from models.enums import (
    AppointmentType,
    IntakeQuestionKind,
    ServiceConfirmation,
    ServiceMode,
    one_of,
    values,
)

SERVICE_MODES = values(ServiceMode)
SERVICE_CONFIRMATIONS = values(ServiceConfirmation)
INTAKE_QUESTION_KINDS = values(IntakeQuestionKind)
"""Kinds of the questions in `intake_questions` (jsonb: checked on write, not by a CHECK)."""


class Service(IdMixin, TimestampMixin, Base):
    """What a doctor offers: a private consultation (capacity 1) or a group session that
    sells seats (capacity > 1).

    Every doctor has two default services, one per appointment type (`default_for`),
    created by the database when the doctor row is inserted (migration 0016); their price
    and currency follow the doctor's fee for that type and currency, both ways (triggers),
    and their duration and buffer are null: the length and buffer of the doctor's weekly
    slots. A service with its own duration and buffer lays its own grid inside the same
    weekly hours."""

    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint("char_length(name) BETWEEN 1 AND 120", name="name_length"),
        CheckConstraint(
            "duration_minutes IS NULL OR duration_minutes BETWEEN 5 AND 480",
            name="duration_minutes_range",
        ),
        CheckConstraint(
            "buffer_minutes IS NULL OR buffer_minutes BETWEEN 0 AND 240",
            name="buffer_minutes_range",
        ),
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        CheckConstraint(one_of("mode", ServiceMode), name="mode_valid"),
        CheckConstraint(one_of("confirmation", ServiceConfirmation), name="confirmation_valid"),
        CheckConstraint("min_notice_minutes BETWEEN 0 AND 43200", name="min_notice_minutes_range"),
        CheckConstraint("capacity BETWEEN 1 AND 500", name="capacity_range"),
        CheckConstraint(
            one_of("default_for", AppointmentType, nullable=True), name="default_for_valid"
        ),
        # NULLs are distinct: any number of custom services, one default per type.
        UniqueConstraint("doctor_id", "default_for", name="uq_services_doctor_id_default_for"),
        Index("ix_services_doctor_id_active", "doctor_id", "active"),
    )

    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default="")
    duration_minutes: Mapped[int | None] = mapped_column(SmallInteger)
    buffer_minutes: Mapped[int | None] = mapped_column(SmallInteger)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default="0")
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    mode: Mapped[str] = mapped_column(String(20), server_default="in_person")
    confirmation: Mapped[str] = mapped_column(String(20), server_default="automatic")
    min_notice_minutes: Mapped[int] = mapped_column(Integer, server_default="0")
    capacity: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    default_for: Mapped[str | None] = mapped_column(String(20))
    intake_questions: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    """[{"key", "prompt", "kind": text | choice | yes_no, "choices": [...], "required"}]"""
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
