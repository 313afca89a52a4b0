"""Demo goals: every goal type and status, with milestones and weeks of check-ins, for the
demo patients. The demo appointments (resolvers/demo/appointments.py) link them to demo
doctors so the care-team rule shows:

- patient@ (Pat) and patient2@ (Robin) have appointments with doctor@ (Dr. Sarah Ahmed):
  she sees their goals. patient4@ (Omar) cancelled his appointment with doctor@, so she
  does not see Omar's goals. patient3@ (Maya) has no appointment: only she, her coach
  (coach@, resolvers/demo/coaching.py, who also coaches Pat) and admins see her goal.

Ids are deterministic; dates are relative to the day the demo is loaded, so check-ins
always cover the last few weeks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Goal, GoalCheckIn, GoalMilestone
from resolvers.demo.ids import demo_id, user_id_for


@dataclass(frozen=True)
class DemoGoal:
    key: str
    owner_email: str
    title: str
    description: str
    type: str
    status: str
    metric: str
    unit: str
    baseline: str
    target: str
    started_days_ago: int
    due_in_days: int | None
    frequency: str
    importance: int
    # One value per check-in, oldest first; check-ins are `frequency`-spaced up to today.
    values: tuple[str, ...]
    # (title, days after start, target value or None, completed)
    milestones: tuple[tuple[str, int, str | None, bool], ...] = field(default_factory=tuple)


DEMO_GOALS: tuple[DemoGoal, ...] = (
    DemoGoal(
        key="pat-weight",
        owner_email="patient@caregraph.dev",
        title="Lose 8 kg before summer",
        description="Cardiologist's advice after the last check-up: lower weight to ease "
        "blood pressure.",
        type="improvement",
        status="active",
        metric="Body weight",
        unit="kg",
        baseline="92",
        target="84",
        started_days_ago=42,
        due_in_days=98,
        frequency="weekly",
        importance=5,
        values=("92", "91.4", "90.8", "90.9", "89.7", "89.2", "88.6"),
        milestones=(
            ("First 2 kg", 21, "90", True),
            ("Halfway: 88 kg", 56, "88", False),
            ("Summer weight: 84 kg", 140, "84", False),
        ),
    ),
    DemoGoal(
        key="pat-steps",
        owner_email="patient@caregraph.dev",
        title="Walk 8,000 steps a day",
        description="A daily walk after dinner.",
        type="habit",
        status="active",
        metric="Daily steps (weekly average)",
        unit="steps",
        baseline="3000",
        target="8000",
        started_days_ago=35,
        due_in_days=55,
        frequency="weekly",
        importance=4,
        values=("3400", "4200", "5100", "4800", "6100", "6650"),
        milestones=(("5,000 steps", 14, "5000", True), ("8,000 steps", 90, "8000", False)),
    ),
    DemoGoal(
        key="pat-blood-pressure",
        owner_email="patient@caregraph.dev",
        title="Keep systolic blood pressure at 128",
        description="Maintain the level reached with medication and diet.",
        type="maintenance",
        status="active",
        metric="Systolic blood pressure",
        unit="mmHg",
        baseline="128",
        target="128",
        started_days_ago=28,
        due_in_days=None,
        frequency="weekly",
        importance=5,
        values=("131", "127", "129", "128", "128"),
    ),
    DemoGoal(
        key="pat-smoking",
        owner_email="patient@caregraph.dev",
        title="Quit smoking",
        description="Paused during a stressful month; picking it up again soon.",
        type="prevention",
        status="paused",
        metric="Cigarettes per day",
        unit="cigarettes",
        baseline="10",
        target="0",
        started_days_ago=60,
        due_in_days=120,
        frequency="biweekly",
        importance=4,
        values=("10", "7", "5", "6"),
        milestones=(("Down to 5 a day", 30, "5", True), ("Smoke-free week", 90, "0", False)),
    ),
    DemoGoal(
        key="pat-5k",
        owner_email="patient@caregraph.dev",
        title="Run 5 km without stopping",
        description="Couch to 5k programme.",
        type="improvement",
        status="completed",
        metric="Distance run without stopping",
        unit="km",
        baseline="1",
        target="5",
        started_days_ago=84,
        due_in_days=-7,
        frequency="biweekly",
        importance=3,
        values=("1.5", "2.2", "3", "3.8", "4.5", "5.1"),
        milestones=(("2 km", 14, "2", True), ("3.5 km", 42, "3.5", True), ("5 km", 77, "5", True)),
    ),
    DemoGoal(
        key="robin-hba1c",
        owner_email="patient2@caregraph.dev",
        title="Bring HbA1c down to 6.5%",
        description="Diet changes and an evening walk.",
        type="improvement",
        status="active",
        metric="HbA1c",
        unit="%",
        baseline="7.8",
        target="6.5",
        started_days_ago=56,
        due_in_days=124,
        frequency="biweekly",
        importance=5,
        values=("7.8", "7.6", "7.5", "7.3", "7.2"),
        milestones=(("Below 7.5%", 42, "7.5", True), ("Below 7%", 100, "7", False)),
    ),
    DemoGoal(
        key="robin-meditation",
        owner_email="patient2@caregraph.dev",
        title="Meditate 10 minutes a day",
        description="Tried an app; did not stick.",
        type="habit",
        status="abandoned",
        metric="Minutes of meditation per day",
        unit="min",
        baseline="0",
        target="10",
        started_days_ago=49,
        due_in_days=41,
        frequency="weekly",
        importance=2,
        values=("5", "3", "0"),
    ),
    DemoGoal(
        key="maya-sleep",
        owner_email="patient3@caregraph.dev",
        title="Sleep 7.5 hours a night",
        description="Screens off at 22:30.",
        type="habit",
        status="active",
        metric="Hours of sleep (weekly average)",
        unit="h",
        baseline="6",
        target="7.5",
        started_days_ago=21,
        due_in_days=69,
        frequency="daily",
        importance=4,
        values=("6.2", "6.5", "6.1", "6.8", "7", "6.9", "7.1", "7.2"),
        milestones=(("7 hours", 30, "7", False),),
    ),
    DemoGoal(
        key="omar-ldl",
        owner_email="patient4@caregraph.dev",
        title="Lower LDL cholesterol below 100",
        description="Statins plus fewer fried foods.",
        type="prevention",
        status="active",
        metric="LDL cholesterol",
        unit="mg/dL",
        baseline="160",
        target="100",
        started_days_ago=30,
        due_in_days=150,
        frequency="monthly",
        importance=5,
        values=("160", "142"),
    ),
)

_STEP_DAYS = {"daily": 1, "weekly": 7, "biweekly": 14, "monthly": 30}


def _check_in_dates(goal: DemoGoal, start: date, today: date) -> list[date]:
    """`len(values)` dates ending today (or the day before the due date for closed goals),
    spaced by the goal's frequency and never before the start."""
    step = timedelta(days=_STEP_DAYS[goal.frequency])
    last = today if goal.status != "completed" else today - timedelta(days=8)
    dates = [last - step * index for index in range(len(goal.values))]
    return sorted(day for day in dates if day >= start)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


async def load_goals_demo(session: AsyncSession) -> None:
    """Inserts the demo goals (rows that exist are left alone)."""
    today = datetime.now(UTC).date()
    goals: list[dict[str, Any]] = []
    milestones: list[dict[str, Any]] = []
    check_ins: list[dict[str, Any]] = []
    moods = ("okay", "good", "great", "struggling", "good")
    for goal in DEMO_GOALS:
        goal_id = demo_id("goal", goal.key)
        start = today - timedelta(days=goal.started_days_ago)
        due = today + timedelta(days=goal.due_in_days) if goal.due_in_days is not None else None
        dates = _check_in_dates(goal, start, today)
        values = goal.values[-len(dates) :]
        current = values[-1] if values else goal.baseline
        goals.append(
            {
                "id": goal_id,
                "owner_id": user_id_for(goal.owner_email),
                "title": goal.title,
                "description": goal.description,
                "type": goal.type,
                "status": goal.status,
                "metric": goal.metric,
                "unit": goal.unit,
                "baseline_value": Decimal(goal.baseline),
                "target_value": Decimal(goal.target),
                "current_value": Decimal(current),
                "start_date": start,
                "target_date": due,
                "check_in_frequency": goal.frequency,
                "importance": goal.importance,
                "completed_at": _at(dates[-1], 18) if goal.status == "completed" else None,
                "created_at": _at(start, 8),
            }
        )
        for position, (title, offset, target, completed) in enumerate(goal.milestones):
            target_date = start + timedelta(days=offset)
            if due is not None:
                target_date = min(target_date, due)
            milestones.append(
                {
                    "id": demo_id("goal_milestone", f"{goal.key}:{position}"),
                    "goal_id": goal_id,
                    "title": title,
                    "description": "",
                    "target_date": target_date,
                    "target_value": Decimal(target) if target is not None else None,
                    "reward": "A treat of your choice" if position == 0 else "",
                    "position": position,
                    "completed": completed,
                    "completed_at": _at(min(target_date, today), 19) if completed else None,
                }
            )
        for index, (day, value) in enumerate(zip(dates, values, strict=True)):
            check_ins.append(
                {
                    "id": demo_id("goal_check_in", f"{goal.key}:{index}"),
                    "goal_id": goal_id,
                    "date": day,
                    "value": Decimal(value),
                    "note": "Felt steady this week." if index % 2 else "",
                    "mood": moods[index % len(moods)],
                    "adherence": 60 + (index * 7) % 40,
                }
            )

    await session.execute(
        pg_insert(Goal).values(goals).on_conflict_do_nothing(index_elements=["id"])
    )
    await session.execute(
        pg_insert(GoalMilestone).values(milestones).on_conflict_do_nothing(index_elements=["id"])
    )
    await session.execute(
        pg_insert(GoalCheckIn).values(check_ins).on_conflict_do_nothing(index_elements=["id"])
    )
