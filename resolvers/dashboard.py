"""Admin dashboard figures, computed in SQL: appointment counts by status, revenue by
month, bookings by hour of day (doctor's local time), top doctors. Admins and
service_role only; the aggregates still read through each table's policy, like every
other read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Integer, cast, desc, func, select

from models import Appointment, Doctor, Payment
from resolvers.core.context import Context
from resolvers.core.errors import BadUserInput, Forbidden
from resolvers.policies import readable

MAX_TOP_DOCTORS = 50


def require_admin(ctx: Context) -> None:
    if not (ctx.viewer.is_admin or ctx.viewer.is_service):
        raise Forbidden("The dashboard is for admins only.")


def check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise BadUserInput("`to` must be after `from`.")


@dataclass(frozen=True)
class StatusCount:
    status: str
    count: int


@dataclass(frozen=True)
class MonthRevenue:
    month: datetime
    currency: str
    amount: Decimal
    payments: int


@dataclass(frozen=True)
class HourCount:
    hour: int
    count: int


@dataclass(frozen=True)
class DoctorStats:
    doctor: Doctor
    appointments: int
    completed: int


async def counts_by_status(ctx: Context, start: datetime, end: datetime) -> list[StatusCount]:
    require_admin(ctx)
    check_range(start, end)
    statement = (
        select(Appointment.status, func.count())
        .where(
            readable(Appointment, ctx.viewer),
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
        .group_by(Appointment.status)
        .order_by(Appointment.status)
    )
    async with ctx.db.read() as session:
        rows = (await session.execute(statement)).all()
    return [StatusCount(status, int(count)) for status, count in rows]


async def revenue_by_month(ctx: Context, start: datetime, end: datetime) -> list[MonthRevenue]:
    """Paid payments (not refunded) by UTC month of payment and currency."""
    require_admin(ctx)
    check_range(start, end)
    month = func.date_trunc("month", func.timezone("UTC", Payment.paid_at)).label("month")
    statement = (
        select(month, Payment.currency, func.sum(Payment.amount), func.count())
        .where(
            readable(Payment, ctx.viewer),
            Payment.status == "paid",
            Payment.paid_at >= start,
            Payment.paid_at < end,
        )
        .group_by(month, Payment.currency)
        .order_by(month, Payment.currency)
    )
    async with ctx.db.read() as session:
        rows = (await session.execute(statement)).all()
    return [
        MonthRevenue(
            month=value.replace(tzinfo=None) if value.tzinfo else value,
            currency=currency,
            amount=amount,
            payments=int(count),
        )
        for value, currency, amount, count in rows
    ]


async def bookings_by_hour(ctx: Context, start: datetime, end: datetime) -> list[HourCount]:
    """Appointments created in the range, by hour of their start in the doctor's zone."""
    require_admin(ctx)
    check_range(start, end)
    hour = cast(
        func.extract("hour", func.timezone(Doctor.timezone, Appointment.starts_at)), Integer
    ).label("hour")
    statement = (
        select(hour, func.count())
        .select_from(Appointment)
        .join(Doctor, Doctor.id == Appointment.doctor_id)
        .where(
            readable(Appointment, ctx.viewer),
            readable(Doctor, ctx.viewer),
            Appointment.created_at >= start,
            Appointment.created_at < end,
        )
        .group_by(hour)
        .order_by(hour)
    )
    async with ctx.db.read() as session:
        rows = (await session.execute(statement)).all()
    return [HourCount(int(h), int(count)) for h, count in rows]


async def top_doctors(
    ctx: Context, start: datetime, end: datetime, limit: int, by_rating: bool
) -> list[DoctorStats]:
    """Doctors ranked by rating (then review count) or by appointment volume in range."""
    require_admin(ctx)
    check_range(start, end)
    if not 1 <= limit <= MAX_TOP_DOCTORS:
        raise BadUserInput(f"`limit` must be 1 to {MAX_TOP_DOCTORS}.")
    volume = (
        select(
            Appointment.doctor_id,
            func.count().label("appointments"),
            func.count().filter(Appointment.status == "completed").label("completed"),
        )
        .where(
            readable(Appointment, ctx.viewer),
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
        .group_by(Appointment.doctor_id)
        .subquery()
    )
    appointments = func.coalesce(volume.c.appointments, 0)
    completed = func.coalesce(volume.c.completed, 0)
    order = (
        [desc(Doctor.rating_avg), desc(Doctor.rating_count), desc(appointments)]
        if by_rating
        else [desc(appointments), desc(Doctor.rating_avg)]
    )
    statement = (
        select(Doctor, appointments, completed)
        .outerjoin(volume, volume.c.doctor_id == Doctor.id)
        .where(readable(Doctor, ctx.viewer))
        .order_by(*order, Doctor.id)
        .limit(limit)
    )
    async with ctx.db.read() as session:
        rows = (await session.execute(statement)).all()
    return [DoctorStats(doctor, int(total), int(done)) for doctor, total, done in rows]
