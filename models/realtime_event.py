from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class RealtimeEvent(Base):
    """The realtime outbox: one row per committed change a subscription shows, appended by
    triggers (migration 0017) in the writing transaction, with NOTIFY caregraph_events
    carrying its id. `row_id` is the changed row (for topic `slots`, the doctor); `keys`
    what subscriptions filter on (a comment's post). Pruned after a while."""

    __tablename__ = "realtime_events"
    __table_args__ = (Index("ix_realtime_events_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    topic: Mapped[str] = mapped_column(String(40))
    row_id: Mapped[uuid.UUID]
    keys: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
