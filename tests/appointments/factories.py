"""Factories for booking tests: appointments, holds, coupons, payments, reviews, and a
real resolver Context for tests that inject the clock."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from models import (
    Appointment,
    AppointmentEvent,
    Coupon,
    Doctor,
    Payment,
    Review,
    SlotHold,
    User,
)
from resolvers.core.context import Context
from resolvers.core.database import Database
from resolvers.core.identity import SERVICE, Viewer
from resolvers.core.settings import Settings


def viewer_for(user: User, *, roles: tuple[str, ...] = (), doctor: Doctor | None = None) -> Viewer:
    app_roles = frozenset({"patient", *roles} | ({"doctor"} if doctor else set()))
    return Viewer(
        role="authenticated",
        user_id=user.id,
        email=user.email,
        app_roles=app_roles,
        doctor_id=doctor.id if doctor else None,
    )


def context_for(db: Database, settings: Settings, viewer: Viewer = SERVICE) -> Context:
    return Context(viewer=viewer, db=db, settings=settings, request_id="test")


def local_day_ahead(timezone: str, days: int) -> date:
    """A local date `days` ahead of today in `timezone`."""
    return datetime.now(ZoneInfo(timezone)).date() + timedelta(days=days)


def weekday_of(day: date) -> int:
    return (day.weekday() + 1) % 7


def at(day: date, clock: time, timezone: str) -> datetime:
    """The UTC instant of a local date and time."""
    return datetime.combine(day, clock, ZoneInfo(timezone)).astimezone(UTC)


async def make_appointment(
    db: Database,
    *,
    doctor: Doctor,
    patient: User,
    starts_at: datetime,
    minutes: int = 30,
    status: str = "confirmed",
    price: Decimal = Decimal("100.00"),
    discount: Decimal = Decimal("0.00"),
    currency: str | None = None,
    type: str = "standard",
) -> Appointment:
    appointment = Appointment(
        doctor_id=doctor.id,
        patient_id=patient.id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        status=status,
        price=price,
        discount=discount,
        currency=currency or doctor.currency,
        type=type,
    )
    async with db.transaction() as session:
        session.add(appointment)
        await session.flush()
        session.add(
            AppointmentEvent(
                appointment_id=appointment.id,
                kind="created",
                actor_id=patient.id,
                actor_role="patient",
                from_status=None,
                to_status=status,
                new_starts_at=starts_at,
            )
        )
    return appointment


async def make_hold(
    db: Database,
    *,
    doctor: Doctor,
    user: User,
    starts_at: datetime,
    minutes: int = 30,
    expires_in: timedelta = timedelta(minutes=10),
) -> SlotHold:
    hold = SlotHold(
        doctor_id=doctor.id,
        user_id=user.id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        expires_at=datetime.now(UTC) + expires_in,
    )
    async with db.transaction() as session:
        session.add(hold)
        await session.flush()
    return hold


async def make_coupon(db: Database, *, code: str, **fields: Any) -> Coupon:
    values: dict[str, Any] = {"kind": "percent", "value": Decimal("10")}
    values.update(fields)
    coupon = Coupon(code=code, **values)
    async with db.transaction() as session:
        session.add(coupon)
        await session.flush()
    return coupon


async def make_payment(
    db: Database, appointment: Appointment, *, status: str = "paid", amount: Decimal | None = None
) -> Payment:
    payment = Payment(
        appointment_id=appointment.id,
        amount=amount if amount is not None else appointment.price - appointment.discount,
        currency=appointment.currency,
        status=status,
        paid_at=datetime.now(UTC) if status in ("paid", "refunded") else None,
        refunded_at=datetime.now(UTC) if status == "refunded" else None,
    )
    async with db.transaction() as session:
        session.add(payment)
        await session.flush()
    return payment


async def make_review(
    db: Database, appointment: Appointment, *, rating: int = 5, comment: str = "Great"
) -> Review:
    review = Review(
        appointment_id=appointment.id,
        doctor_id=appointment.doctor_id,
        patient_id=appointment.patient_id,
        rating=rating,
        comment=comment,
    )
    async with db.transaction() as session:
        session.add(review)
        await session.flush()
    return review


async def fetch(db: Database, model: Any, row_id: uuid.UUID) -> Any:
    async with db.read() as session:
        return await session.get(model, row_id)
