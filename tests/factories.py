"""Factories: each test makes the rows it needs."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, time
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from models import AvailabilityException, Doctor, DoctorAvailability, Service, User, UserRole
from resolvers.core.database import Database
from schema.ids import format_id

_sequence = itertools.count(1)

TYPE_NAMES = {DoctorAvailability: "AvailabilityRule"}
"""Models whose GraphQL type has another name; the rest share theirs."""


def gid(row: Any, type_name: str | None = None) -> str:
    """The global id the API gives `row` (a model instance), or `row` (a uuid) as an
    object of `type_name`."""
    if isinstance(row, uuid.UUID):
        assert type_name is not None
        return str(format_id(type_name, row))
    return str(format_id(type_name or TYPE_NAMES.get(type(row), type(row).__name__), row.id))


async def make_user(
    db: Database,
    *,
    email: str | None = None,
    full_name: str | None = None,
    roles: tuple[str, ...] = (),
    phone: str | None = "+15550001111",
) -> User:
    number = next(_sequence)
    user = User(
        id=uuid.uuid4(),
        email=email or f"user{number}-{uuid.uuid4().hex[:6]}@example.test",
        full_name=full_name or f"User {number}",
        phone=phone,
        timezone="UTC",
    )
    async with db.transaction() as session:
        session.add(user)
        await session.flush()
        for role in roles:
            session.add(UserRole(user_id=user.id, role=role))
    return user


async def make_doctor(
    db: Database,
    *,
    user: User | None = None,
    verified: bool = True,
    **fields: Any,
) -> Doctor:
    number = next(_sequence)
    if user is None:
        user = await make_user(db, roles=("doctor",), full_name=f"Dr. {number}")
    values: dict[str, Any] = {
        "full_name": f"Dr. Test {number:04d}",
        "specialties": ["Cardiology"],
        "languages": ["English"],
        "bio": "",
        "qualifications": [],
        "fee_standard": Decimal("100.00"),
        "fee_followup": Decimal("60.00"),
        "currency": "USD",
        "timezone": "UTC",
        "verified": verified,
    }
    values.update(fields)
    doctor = Doctor(user_id=user.id, **values)
    async with db.transaction() as session:
        session.add(doctor)
        await session.flush()
    return doctor


async def make_rule(
    db: Database,
    doctor: Doctor,
    *,
    day_of_week: int = 1,
    start: time = time(9),
    end: time = time(12),
    active: bool = True,
    **fields: Any,
) -> DoctorAvailability:
    rule = DoctorAvailability(
        doctor_id=doctor.id,
        day_of_week=day_of_week,
        start_time=start,
        end_time=end,
        active=active,
        slot_minutes=fields.pop("slot_minutes", 30),
        buffer_minutes=fields.pop("buffer_minutes", 0),
        **fields,
    )
    async with db.transaction() as session:
        session.add(rule)
        await session.flush()
    return rule


async def make_exception(
    db: Database,
    doctor: Doctor,
    *,
    on: date,
    kind: str = "blocked",
    start: time | None = None,
    end: time | None = None,
    reason: str = "",
) -> AvailabilityException:
    row = AvailabilityException(
        doctor_id=doctor.id, date=on, kind=kind, start_time=start, end_time=end, reason=reason
    )
    async with db.transaction() as session:
        session.add(row)
        await session.flush()
    return row


async def user_of(db: Database, doctor: Doctor) -> User:
    async with db.read() as session:
        user = await session.get(User, doctor.user_id)
    assert user is not None
    return user


async def count_rows(db: Database, model: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def make_service(db: Database, doctor: Doctor, **fields: Any) -> Service:
    """A service of `doctor` (a 30-minute private one unless `fields` say otherwise)."""
    values: dict[str, Any] = {
        "name": f"Service {next(_sequence)}",
        "duration_minutes": 30,
        "buffer_minutes": 0,
        "price": Decimal("50.00"),
        "currency": doctor.currency,
    }
    values.update(fields)
    service = Service(doctor_id=doctor.id, **values)
    async with db.transaction() as session:
        session.add(service)
        await session.flush()
    return service


async def default_service(db: Database, doctor: Doctor, kind: str = "standard") -> Service:
    """The default service of `kind` the database made for `doctor`."""
    async with db.read() as session:
        return (
            await session.scalars(
                select(Service).where(Service.doctor_id == doctor.id, Service.default_for == kind)
            )
        ).one()
