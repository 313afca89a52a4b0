from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, IdMixin
from models.enums import ActorRole, AppointmentEventKind, AppointmentStatus, one_of, values

EVENT_KINDS = values(AppointmentEventKind)
ACTOR_ROLES = values(ActorRole)


class AppointmentEvent(IdMixin, Base):
    """One change of an appointment: who, when, from which status to which (and moves)."""

    __tablename__ = "appointment_events"
    __table_args__ = (
        CheckConstraint(one_of("kind", AppointmentEventKind), name="kind_valid"),
        CheckConstraint(one_of("actor_role", ActorRole), name="actor_role_valid"),
        CheckConstraint(one_of("to_status", AppointmentStatus), name="to_status_valid"),
        Index("ix_appointment_events_appointment_id_created_at", "appointment_id", "created_at"),
        Index("ix_appointment_events_actor_id", "actor_id"),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_role: Mapped[str] = mapped_column(String(10))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    previous_starts_at: Mapped[datetime | None]
    new_starts_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
