from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin, TimestampMixin


class Doctor(IdMixin, TimestampMixin, Base):
    __tablename__ = "doctors"
    __table_args__ = (
        CheckConstraint("fee_standard >= 0 AND fee_followup >= 0", name="fees_non_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        CheckConstraint("rating_avg >= 0 AND rating_avg <= 5", name="rating_avg_range"),
        CheckConstraint("rating_count >= 0", name="rating_count_non_negative"),
        CheckConstraint(
            "cancellation_policy_hours >= 0 AND cancellation_policy_hours <= 720",
            name="cancellation_policy_range",
        ),
        Index("ix_doctors_specialties", "specialties", postgresql_using="gin"),
        Index("ix_doctors_languages", "languages", postgresql_using="gin"),
        Index("ix_doctors_full_name_id", "full_name", "id"),
        Index("ix_doctors_rating_avg_id", "rating_avg", "id"),
        Index("ix_doctors_fee_standard_id", "fee_standard", "id"),
        Index("ix_doctors_created_at_id", "created_at", "id"),
        Index("ix_doctors_verified", "verified"),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    full_name: Mapped[str] = mapped_column(Text)
    specialties: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    languages: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    bio: Mapped[str] = mapped_column(Text, server_default="")
    qualifications: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    fee_standard: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default="0")
    fee_followup: Mapped[Decimal] = mapped_column(Numeric(10, 2), server_default="0")
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    rating_avg: Mapped[Decimal] = mapped_column(Numeric(3, 2), server_default="0")
    rating_count: Mapped[int] = mapped_column(Integer, server_default="0")
    photo_url: Mapped[str | None] = mapped_column(Text)
    verified: Mapped[bool] = mapped_column(Boolean, server_default="false")
    accepting_patients: Mapped[bool] = mapped_column(Boolean, server_default="true")
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    cancellation_policy_hours: Mapped[int] = mapped_column(Integer, server_default="24")
