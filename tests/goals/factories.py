"""Factories for goals, milestones, check-ins, and the appointment rows that open a
patient's goals to a doctor (inserted directly; the booking API is not needed)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from models import Appointment, CoachClient, Doctor, Goal, GoalCheckIn, GoalMilestone, User
from resolvers.core.database import Database
from tests.factories import make_user

_sequence = itertools.count(1)
GOAL_TABLES = ("goals", "goal_milestones", "goal_check_ins")


async def make_goal(
    db: Database,
    owner: User,
    *,
    title: str | None = None,
    type: str = "improvement",
    status: str = "active",
    baseline: str | int = 80,
    target: str | int = 70,
    current: str | int | None = None,
    start_date: date = date(2026, 1, 1),
    target_date: date | None = date(2026, 12, 31),
    **fields: Any,
) -> Goal:
    number = next(_sequence)
    goal = Goal(
        owner_id=owner.id,
        title=title or f"Goal {number}",
        type=type,
        status=status,
        metric=fields.pop("metric", "Weight"),
        unit=fields.pop("unit", "kg"),
        baseline_value=Decimal(baseline),
        target_value=Decimal(target),
        current_value=Decimal(current if current is not None else baseline),
        start_date=start_date,
        target_date=target_date,
        completed_at=datetime.now(UTC) if status == "completed" else None,
        **fields,
    )
    async with db.transaction() as session:
        session.add(goal)
        await session.flush()
    return goal


async def make_milestone(
    db: Database,
    goal: Goal,
    *,
    position: int,
    title: str | None = None,
    completed: bool = False,
    **fields: Any,
) -> GoalMilestone:
    milestone = GoalMilestone(
        goal_id=goal.id,
        title=title or f"Milestone {position}",
        position=position,
        completed=completed,
        completed_at=datetime.now(UTC) if completed else None,
        **fields,
    )
    async with db.transaction() as session:
        session.add(milestone)
        await session.flush()
    return milestone


async def make_check_in(
    db: Database,
    goal: Goal,
    *,
    on: date,
    value: str | int = 79,
    **fields: Any,
) -> GoalCheckIn:
    row = GoalCheckIn(goal_id=goal.id, date=on, value=Decimal(value), **fields)
    async with db.transaction() as session:
        session.add(row)
        await session.flush()
    return row


async def make_appointment_row(
    db: Database,
    doctor: Doctor,
    patient: User,
    *,
    status: str = "confirmed",
    starts_at: datetime | None = None,
) -> Appointment:
    start = starts_at or datetime(2026, 6, 1, 9, tzinfo=UTC) + timedelta(hours=next(_sequence))
    row = Appointment(
        doctor_id=doctor.id,
        patient_id=patient.id,
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        status=status,
        price=Decimal("100.00"),
        currency="USD",
    )
    async with db.transaction() as session:
        session.add(row)
        await session.flush()
    return row


async def goal_rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the goal tables, for "nothing was written" assertions."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    async with db.read() as session:
        for table in GOAL_TABLES:
            result = await session.execute(text(f"SELECT * FROM {table} ORDER BY id"))
            snapshot[table] = [tuple(row) for row in result.all()]
    return snapshot


async def make_coach_of(db: Database, *clients: User) -> User:
    """A coach assigned to `clients`: reads their goals, may not write them."""
    coach = await make_user(db, roles=("coach",))
    async with db.transaction() as session:
        for client in clients:
            session.add(CoachClient(coach_id=coach.id, client_id=client.id))
    return coach
