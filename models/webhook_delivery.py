from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin
from models.enums import NotificationKind, WebhookDeliveryStatus, one_of, values

WEBHOOK_DELIVERY_STATUSES = values(WebhookDeliveryStatus)
MAX_ERROR_LENGTH = 500


class WebhookDelivery(IdMixin, Base):
    """One event for one endpoint, and what became of it (the delivery log): written with
    the notification it carries, sent by the `webhook.deliver` job, retried with backoff
    until the endpoint answers 2xx or the attempts run out. `payload` is the JSON body every
    attempt sends (each attempt signs it with a fresh timestamp)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(one_of("status", WebhookDeliveryStatus), name="status_valid"),
        CheckConstraint(one_of("event_kind", NotificationKind), name="event_kind_valid"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        CheckConstraint(
            "last_status_code IS NULL OR last_status_code BETWEEN 100 AND 599",
            name="last_status_code_range",
        ),
        CheckConstraint(
            "(status = 'delivered') = (delivered_at IS NOT NULL)", name="delivered_at_iff_delivered"
        ),
        # One delivery per event and endpoint (also the index of the foreign key).
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_endpoint_id_created_at_id", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_deliveries_status_created_at_id", "status", "created_at", "id"),
        Index("ix_webhook_deliveries_created_at_id", "created_at", "id"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_kind: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[uuid.UUID]
    """The notification it carries (no foreign key: the log outlives the inbox)."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    """Requests started (one more than the failures when the last was cut off)."""
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(MAX_ERROR_LENGTH))
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
