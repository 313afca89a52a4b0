from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin
from models.enums import ProviderEventStatus, one_of, values

PROVIDER_EVENT_STATUSES = values(ProviderEventStatus)


class ProviderEvent(IdMixin, Base):
    """A payment provider's webhook event, stored once by its id: a second delivery of the
    same event changes nothing. A refund that arrives before its payment's success waits
    here (DEFERRED) and is applied with the success."""

    __tablename__ = "provider_events"
    __table_args__ = (
        CheckConstraint(one_of("status", ProviderEventStatus), name="status_valid"),
        Index("uq_provider_events_provider_event_id", "provider", "event_id", unique=True),
        Index("ix_provider_events_object_ref_status", "object_ref", "status"),
    )

    provider: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    object_ref: Mapped[str | None] = mapped_column(String(200))
    """The provider's payment reference it is about (a PaymentIntent id)."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
    applied_at: Mapped[datetime | None]
