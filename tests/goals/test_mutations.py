"""Goal writes: each mutation's success and typed errors; on error nothing is written."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from models import Goal, GoalCheckIn, GoalMilestone, User
from resolvers.core.database import Database
from schema.ids import decode_id
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_user, user_of
from tests.goals.factories import (
    goal_rows,
    make_appointment_row,
    make_check_in,
    make_coach_of,
    make_goal,
    make_milestone,
)

ERRORS = """
    __typename
    ... on UserError { code message }
    ... on ValidationError { fields { field messages } }
"""
GOAL_FIELDS = """
    id ownerId title description type status metric unit baselineValue targetValue
    currentValue startDate targetDate checkInFrequency importance completedAt progress
    milestones { id title position completed }
    milestoneCompletion { completed total percent }
    checkIns(first: 5) { totalCount edges { node { date value mood adherence note } } }
"""

CREATE = f"""
mutation ($input: CreateGoalInput!) {{
  createGoal(input: $input) {{ {ERRORS} ... on GoalCreated {{ goal {{ {GOAL_FIELDS} }} }} }}
}}
"""
UPDATE = f"""
mutation ($input: UpdateGoalInput!) {{
  updateGoal(input: $input) {{
    {ERRORS}
    ... on InvalidStatusTransition {{ fromStatus toStatus }}
    ... on GoalUpdated {{ goal {{ {GOAL_FIELDS} }} }}
  }}
}}
"""
DELETE = f"""
mutation ($input: DeleteGoalInput!) {{
  deleteGoal(input: $input) {{ {ERRORS} ... on GoalDeleted {{ id }} }}
}}
"""
ADD_MILESTONE = f"""
mutation ($input: AddMilestoneInput!) {{
  addMilestone(input: $input) {{
    {ERRORS}
    ... on GoalClosed {{ status }}
    ... on MilestoneAdded {{
      milestone {{ id title position targetDate targetValue reward completed }}
      goal {{ milestones {{ title position }} }}
    }}
  }}
}}
"""
UPDATE_MILESTONE = f"""
mutation ($input: UpdateMilestoneInput!) {{
  updateMilestone(input: $input) {{
    {ERRORS}
    ... on GoalClosed {{ status }}
    ... on MilestoneUpdated {{
      milestone {{ id title description targetDate targetValue reward }}
    }}
  }}
}}
"""
COMPLETE_MILESTONE = f"""
mutation ($input: CompleteMilestoneInput!) {{
  completeMilestone(input: $input) {{
    {ERRORS}
    ... on GoalClosed {{ status }}
    ... on MilestoneCompleted {{
      milestone {{ id completed completedAt }}
      goal {{ milestoneCompletion {{ completed total percent }} }}
    }}
  }}
}}
"""
REORDER = f"""
mutation ($input: ReorderMilestonesInput!) {{
  reorderMilestones(input: $input) {{
    {ERRORS}
    ... on GoalClosed {{ status }}
    ... on MilestonesReordered {{
      milestones {{ id position }}
      goal {{ milestones {{ id position }} }}
    }}
  }}
}}
"""
DELETE_MILESTONE = f"""
mutation ($input: DeleteMilestoneInput!) {{
  deleteMilestone(input: $input) {{
    {ERRORS}
    ... on GoalClosed {{ status }}
    ... on MilestoneDeleted {{ id goal {{ milestones {{ title position }} }} }}
  }}
}}
"""
CHECK_IN = f"""
mutation ($input: CheckInInput!) {{
  checkIn(input: $input) {{
    {ERRORS}
    ... on GoalClosed {{ status }}
    ... on CheckInRecorded {{
      replaced
      checkIn {{ id date value note mood adherence }}
      goal {{
        currentValue progress
        checkIns(first: 5) {{ totalCount edges {{ node {{ date value }} }} }}
      }}
    }}
  }}
}}
"""


async def run(
    client: GraphQLClient, mutation: str, values: dict[str, Any], as_user: Any
) -> dict[str, Any]:
    response = await client.execute(mutation, {"input": values}, as_user=as_user)
    data = response.data
    (payload,) = data.values()
    assert isinstance(payload, dict)
    return payload


def _fields(payload: dict[str, Any]) -> dict[str, list[str]]:
    return {item["field"]: item["messages"] for item in payload["fields"]}


async def _doctor_of(db: Database, patient: User, status: str = "confirmed") -> User:
    doctor = await make_doctor(db)
    await make_appointment_row(db, doctor, patient, status=status)
    return await user_of(db, doctor)


# --- createGoal -----------------------------------------------------------------------------


async def test_create_goal(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    payload = await run(
        client,
        CREATE,
        {
            "title": "  Lose 10 kg ",
            "type": "IMPROVEMENT",
            "metric": "Weight",
            "unit": "kg",
            "baselineValue": 90,
            "targetValue": 80.5,
            "startDate": "2026-01-01",
            "targetDate": "2026-06-30",
            "importance": 5,
            "checkInFrequency": "DAILY",
        },
        owner,
    )
    assert payload["__typename"] == "GoalCreated"
    goal = payload["goal"]
    assert goal["ownerId"] == gid(owner)
    assert goal["title"] == "Lose 10 kg"
    assert goal["status"] == "ACTIVE"
    assert goal["currentValue"] == 90.0
    assert goal["targetValue"] == 80.5
    assert goal["progress"] == 0.0
    assert goal["checkInFrequency"] == "DAILY"
    assert goal["completedAt"] is None
    assert goal["milestones"] == []
    assert goal["checkIns"]["totalCount"] == 0
    async with db.read() as session:
        row = await session.get(Goal, decode_id(goal["id"])[1])  # type: ignore[index]
    assert row is not None and row.baseline_value == Decimal("90.000")


async def test_create_goal_defaults(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    payload = await run(
        client,
        CREATE,
        {"title": "Sleep 8h", "type": "HABIT", "baselineValue": 6, "targetValue": 8},
        owner,
    )
    goal = payload["goal"]
    assert goal["startDate"] == datetime.now(UTC).date().isoformat()
    assert goal["targetDate"] is None
    assert goal["importance"] == 3
    assert goal["checkInFrequency"] == "WEEKLY"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"importance": 0}, "importance"),
        ({"importance": 6}, "importance"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"startDate": "2026-05-01", "targetDate": "2026-04-30"}, "targetDate"),
        ({"baselineValue": 1.2345}, "baselineValue"),
        ({"targetValue": 1e12}, "targetValue"),
        ({"unit": "u" * 41}, "unit"),
    ],
)
async def test_create_goal_validation(
    client: GraphQLClient, db: Database, overrides: dict[str, Any], field: str
) -> None:
    owner = await make_user(db)
    values = {"title": "Goal", "type": "HABIT", "baselineValue": 0, "targetValue": 5}
    values.update(overrides)
    before = await goal_rows(db)
    payload = await run(client, CREATE, values, owner)
    assert payload["__typename"] == "ValidationError"
    assert payload["code"] == "BAD_USER_INPUT"
    assert field in _fields(payload)
    assert await goal_rows(db) == before


async def test_create_goal_for_someone_else(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    patient = await make_user(db)
    coach = await make_coach_of(db, owner)
    doctor = await _doctor_of(db, owner)
    values = {
        "ownerId": gid(owner),
        "title": "Goal",
        "type": "HABIT",
        "baselineValue": 0,
        "targetValue": 5,
    }
    for viewer in (patient, coach, doctor):
        payload = await run(client, CREATE, values, viewer)
        assert payload["__typename"] == "NotAllowed"
        assert payload["code"] == "FORBIDDEN"
    anon = await run(client, CREATE, {k: v for k, v in values.items() if k != "ownerId"}, None)
    assert anon["__typename"] == "NotAllowed"
    assert (await goal_rows(db))["goals"] == []

    admin = await make_user(db, roles=("admin",))
    created = await run(client, CREATE, values, admin)
    assert created["goal"]["ownerId"] == gid(owner)
    service = await run(client, CREATE, values, "service")
    assert service["goal"]["ownerId"] == gid(owner)
    missing_owner = await run(
        client, CREATE, {k: v for k, v in values.items() if k != "ownerId"}, "service"
    )
    assert missing_owner["__typename"] == "ValidationError"
    unknown = await run(
        client, CREATE, {**values, "ownerId": "00000000-0000-4000-8000-000000000000"}, admin
    )
    assert unknown["__typename"] == "NotFound"
    assert len((await goal_rows(db))["goals"]) == 2


# --- updateGoal -----------------------------------------------------------------------------


async def test_update_goal_fields(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, baseline=90, target=80, current=85)
    payload = await run(
        client,
        UPDATE,
        {
            "id": gid(goal),
            "title": "New title",
            "importance": 1,
            "targetValue": 70,
            "targetDate": None,
            "type": "MAINTENANCE",
        },
        owner,
    )
    assert payload["__typename"] == "GoalUpdated"
    updated = payload["goal"]
    assert updated["title"] == "New title"
    assert updated["importance"] == 1
    assert updated["targetDate"] is None
    assert updated["type"] == "MAINTENANCE"
    assert updated["progress"] == 25.0
    kept = await run(client, UPDATE, {"id": gid(goal), "description": "why"}, owner)
    assert kept["goal"]["title"] == "New title"
    assert kept["goal"]["description"] == "why"


@pytest.mark.parametrize(
    ("start", "moves"),
    [
        ("active", ["PAUSED", "ACTIVE", "COMPLETED"]),
        ("active", ["ABANDONED"]),
        ("paused", ["COMPLETED"]),
        ("paused", ["ABANDONED"]),
        ("active", ["ACTIVE", "PAUSED", "PAUSED"]),
    ],
)
async def test_legal_status_moves(
    client: GraphQLClient, db: Database, start: str, moves: list[str]
) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, status=start)
    for status in moves:
        payload = await run(client, UPDATE, {"id": gid(goal), "status": status}, owner)
        assert payload["__typename"] == "GoalUpdated", payload
        assert payload["goal"]["status"] == status
        assert (payload["goal"]["completedAt"] is not None) is (status == "COMPLETED")


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("completed", "ACTIVE"),
        ("completed", "PAUSED"),
        ("completed", "ABANDONED"),
        ("abandoned", "ACTIVE"),
        ("abandoned", "PAUSED"),
        ("abandoned", "COMPLETED"),
    ],
)
async def test_illegal_status_moves(
    client: GraphQLClient, db: Database, start: str, target: str
) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, status=start)
    before = await goal_rows(db)
    payload = await run(
        client, UPDATE, {"id": gid(goal), "status": target, "title": "Changed"}, owner
    )
    assert payload["__typename"] == "InvalidStatusTransition"
    assert payload["code"] == "INVALID_TRANSITION"
    assert payload["fromStatus"] == start.upper()
    assert payload["toStatus"] == target
    assert await goal_rows(db) == before


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"importance": 9}, "importance"),
        ({"targetDate": "2025-12-31"}, "targetDate"),  # before the goal's start date
        ({"startDate": "2027-01-01"}, "targetDate"),  # after the goal's target date
        ({"title": ""}, "title"),
    ],
)
async def test_update_goal_validation(
    client: GraphQLClient, db: Database, values: dict[str, Any], field: str
) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, start_date=date(2026, 1, 1), target_date=date(2026, 12, 31))
    before = await goal_rows(db)
    payload = await run(client, UPDATE, {"id": gid(goal), **values}, owner)
    assert payload["__typename"] == "ValidationError"
    assert field in _fields(payload)
    assert await goal_rows(db) == before


async def test_update_goal_by_readers_and_strangers(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    doctor = await _doctor_of(db, owner)
    coach = await make_coach_of(db, owner)
    stranger = await make_user(db)
    before = await goal_rows(db)
    for viewer, typename in (
        (doctor, "NotAllowed"),
        (coach, "NotAllowed"),
        (stranger, "NotFound"),
        (None, "NotFound"),
    ):
        payload = await run(client, UPDATE, {"id": gid(goal), "title": "Hacked"}, viewer)
        assert payload["__typename"] == typename
    assert await goal_rows(db) == before
    admin = await make_user(db, roles=("admin",))
    payload = await run(client, UPDATE, {"id": gid(goal), "title": "By admin"}, admin)
    assert payload["goal"]["title"] == "By admin"


async def test_update_goal_bad_id(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    payload = await run(client, UPDATE, {"id": "nope"}, owner)
    assert payload["__typename"] == "ValidationError"
    missing = await run(client, UPDATE, {"id": "00000000-0000-4000-8000-000000000000"}, owner)
    assert missing["__typename"] == "NotFound"


# --- deleteGoal -----------------------------------------------------------------------------


async def test_delete_goal(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    keep = await make_goal(db, owner)
    await make_milestone(db, goal, position=0)
    await make_check_in(db, goal, on=date(2026, 2, 1))
    coach = await make_coach_of(db, owner)
    doctor = await _doctor_of(db, owner)
    stranger = await make_user(db)
    before = await goal_rows(db)
    for viewer, typename in ((coach, "NotAllowed"), (doctor, "NotAllowed"), (stranger, "NotFound")):
        payload = await run(client, DELETE, {"id": gid(goal)}, viewer)
        assert payload["__typename"] == typename
    assert await goal_rows(db) == before
    payload = await run(client, DELETE, {"id": gid(goal)}, owner)
    assert payload == {"__typename": "GoalDeleted", "id": gid(goal)}
    async with db.read() as session:
        assert [g.id for g in (await session.scalars(select(Goal))).all()] == [keep.id]
        assert (await session.scalars(select(GoalMilestone))).all() == []
        assert (await session.scalars(select(GoalCheckIn))).all() == []
    again = await run(client, DELETE, {"id": gid(goal)}, owner)
    assert again["__typename"] == "NotFound"


# --- milestones -----------------------------------------------------------------------------


async def test_add_milestones(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, start_date=date(2026, 1, 1), target_date=date(2026, 12, 31))
    first = await run(
        client,
        ADD_MILESTONE,
        {
            "goalId": gid(goal),
            "title": "Lose 2 kg",
            "targetDate": "2026-02-01",
            "targetValue": 78,
            "reward": "New shoes",
        },
        owner,
    )
    assert first["__typename"] == "MilestoneAdded"
    assert first["milestone"]["position"] == 0
    assert first["milestone"]["targetValue"] == 78.0
    await run(client, ADD_MILESTONE, {"goalId": gid(goal), "title": "B"}, owner)
    inserted = await run(
        client, ADD_MILESTONE, {"goalId": gid(goal), "title": "First", "position": 0}, owner
    )
    assert inserted["milestone"]["position"] == 0
    assert [(m["title"], m["position"]) for m in inserted["goal"]["milestones"]] == [
        ("First", 0),
        ("Lose 2 kg", 1),
        ("B", 2),
    ]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": " "}, "title"),
        ({"position": 5}, "position"),
        ({"position": -1}, "position"),
        ({"targetDate": "2025-12-01"}, "targetDate"),
        ({"targetDate": "2027-01-02"}, "targetDate"),
        ({"reward": "r" * 501}, "reward"),
    ],
)
async def test_add_milestone_validation(
    client: GraphQLClient, db: Database, values: dict[str, Any], field: str
) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, start_date=date(2026, 1, 1), target_date=date(2026, 12, 31))
    await make_milestone(db, goal, position=0)
    before = await goal_rows(db)
    payload = await run(client, ADD_MILESTONE, {"goalId": gid(goal), "title": "M", **values}, owner)
    assert payload["__typename"] == "ValidationError"
    assert field in _fields(payload)
    assert await goal_rows(db) == before


async def test_milestone_writes_by_readers_strangers_and_on_closed_goals(
    client: GraphQLClient, db: Database
) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    milestone = await make_milestone(db, goal, position=0)
    closed = await make_goal(db, owner, status="completed")
    closed_milestone = await make_milestone(db, closed, position=0)
    coach = await make_coach_of(db, owner)
    doctor = await _doctor_of(db, owner)
    stranger = await make_user(db)
    before = await goal_rows(db)
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        (ADD_MILESTONE, {"goalId": gid(goal), "title": "X"}, {"goalId": gid(closed)}),
        (
            UPDATE_MILESTONE,
            {"id": gid(milestone), "title": "X"},
            {"id": gid(closed_milestone)},
        ),
        (COMPLETE_MILESTONE, {"id": gid(milestone)}, {"id": gid(closed_milestone)}),
        (
            REORDER,
            {"goalId": gid(goal), "milestoneIds": [gid(milestone)]},
            {"goalId": gid(closed), "milestoneIds": [gid(closed_milestone)]},
        ),
        (DELETE_MILESTONE, {"id": gid(milestone)}, {"id": gid(closed_milestone)}),
    ]
    for mutation, values, closed_values in calls:
        for viewer, typename in (
            (coach, "NotAllowed"),
            (doctor, "NotAllowed"),
            (stranger, "NotFound"),
            (None, "NotFound"),
        ):
            payload = await run(client, mutation, values, viewer)
            assert payload["__typename"] == typename, (mutation, viewer, payload)
        payload = await run(client, mutation, {**values, **closed_values}, owner)
        assert payload["__typename"] == "GoalClosed", payload
        assert payload["code"] == "GOAL_CLOSED"
        assert payload["status"] == "COMPLETED"
    assert await goal_rows(db) == before


async def test_update_milestone(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, start_date=date(2026, 1, 1), target_date=date(2026, 12, 31))
    milestone = await make_milestone(
        db, goal, position=0, target_date=date(2026, 3, 1), target_value=Decimal(75)
    )
    payload = await run(
        client,
        UPDATE_MILESTONE,
        {"id": gid(milestone), "title": "Renamed", "reward": "Cake", "targetValue": None},
        owner,
    )
    assert payload["milestone"] == {
        "id": gid(milestone),
        "title": "Renamed",
        "description": "",
        "targetDate": "2026-03-01",
        "targetValue": None,
        "reward": "Cake",
    }
    cleared = await run(client, UPDATE_MILESTONE, {"id": gid(milestone), "targetDate": None}, owner)
    assert cleared["milestone"]["targetDate"] is None
    before = await goal_rows(db)
    bad = await run(
        client, UPDATE_MILESTONE, {"id": gid(milestone), "targetDate": "2027-06-01"}, owner
    )
    assert bad["__typename"] == "ValidationError"
    assert "targetDate" in _fields(bad)
    assert await goal_rows(db) == before


async def test_complete_and_reopen_milestone(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    first = await make_milestone(db, goal, position=0)
    await make_milestone(db, goal, position=1)
    done = await run(client, COMPLETE_MILESTONE, {"id": gid(first)}, owner)
    assert done["milestone"]["completed"] is True
    assert done["milestone"]["completedAt"] is not None
    assert done["goal"]["milestoneCompletion"] == {"completed": 1, "total": 2, "percent": 50.0}
    reopened = await run(client, COMPLETE_MILESTONE, {"id": gid(first), "completed": False}, owner)
    assert reopened["milestone"] == {"id": gid(first), "completed": False, "completedAt": None}
    assert reopened["goal"]["milestoneCompletion"]["completed"] == 0


async def test_reorder_milestones(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    rows = [await make_milestone(db, goal, position=index) for index in range(3)]
    other_goal = await make_goal(db, owner)
    foreign = await make_milestone(db, other_goal, position=0)
    order = [gid(rows[2]), gid(rows[0]), gid(rows[1])]
    payload = await run(client, REORDER, {"goalId": gid(goal), "milestoneIds": order}, owner)
    assert [m["id"] for m in payload["milestones"]] == order
    assert payload["goal"]["milestones"] == [
        {"id": mid, "position": index} for index, mid in enumerate(order)
    ]
    before = await goal_rows(db)
    for ids in (
        order[:2],  # missing one
        [*order, order[0]],  # repeated
        [*order[:2], gid(foreign)],  # another goal's milestone
    ):
        bad = await run(client, REORDER, {"goalId": gid(goal), "milestoneIds": ids}, owner)
        assert bad["__typename"] == "ValidationError"
        assert "milestoneIds" in _fields(bad)
    assert await goal_rows(db) == before


async def test_delete_milestone_closes_the_gap(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    rows = [await make_milestone(db, goal, position=index) for index in range(3)]
    payload = await run(client, DELETE_MILESTONE, {"id": gid(rows[1])}, owner)
    assert payload["id"] == gid(rows[1])
    assert payload["goal"]["milestones"] == [
        {"title": "Milestone 0", "position": 0},
        {"title": "Milestone 2", "position": 1},
    ]
    again = await run(client, DELETE_MILESTONE, {"id": gid(rows[1])}, owner)
    assert again["__typename"] == "NotFound"


async def test_concurrent_add_milestone_keeps_positions_unique(
    client: GraphQLClient, db: Database
) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    results = await asyncio.gather(
        *(
            run(client, ADD_MILESTONE, {"goalId": gid(goal), "title": f"M{n}"}, owner)
            for n in range(12)
        )
    )
    assert all(result["__typename"] == "MilestoneAdded" for result in results)
    async with db.read() as session:
        positions = sorted(
            (
                await session.scalars(
                    select(GoalMilestone.position).where(GoalMilestone.goal_id == goal.id)
                )
            ).all()
        )
    assert positions == list(range(12))


# --- checkIn --------------------------------------------------------------------------------


async def test_check_in_updates_current_value(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, baseline=90, target=80, start_date=date(2026, 1, 1))
    payload = await run(
        client,
        CHECK_IN,
        {
            "goalId": gid(goal),
            "date": "2026-02-01",
            "value": 87.5,
            "note": "good week",
            "mood": "GOOD",
            "adherence": 80,
        },
        owner,
    )
    assert payload["__typename"] == "CheckInRecorded"
    assert payload["replaced"] is False
    assert payload["checkIn"]["value"] == 87.5
    assert payload["checkIn"]["mood"] == "GOOD"
    assert payload["goal"]["currentValue"] == 87.5
    assert payload["goal"]["progress"] == 25.0
    assert payload["goal"]["checkIns"]["totalCount"] == 1
    async with db.read() as session:
        row = await session.get(Goal, goal.id)
    assert row is not None and row.current_value == Decimal("87.5")


async def test_check_in_same_date_replaces(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, baseline=90, target=80)
    base = {"goalId": gid(goal), "date": "2026-02-01"}
    await run(client, CHECK_IN, {**base, "value": 88, "mood": "OKAY"}, owner)
    again = await run(client, CHECK_IN, {**base, "value": 86, "adherence": 50}, owner)
    assert again["replaced"] is True
    assert again["checkIn"]["mood"] is None
    assert again["checkIn"]["adherence"] == 50
    assert again["goal"]["currentValue"] == 86.0
    assert again["goal"]["checkIns"]["totalCount"] == 1


async def test_backfilled_check_in_keeps_newest_value(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, baseline=90, target=80)
    await run(client, CHECK_IN, {"goalId": gid(goal), "date": "2026-03-01", "value": 84}, owner)
    older = await run(
        client, CHECK_IN, {"goalId": gid(goal), "date": "2026-02-01", "value": 88}, owner
    )
    assert older["goal"]["currentValue"] == 84.0
    assert [edge["node"]["date"] for edge in older["goal"]["checkIns"]["edges"]] == [
        "2026-03-01",
        "2026-02-01",
    ]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"adherence": 101}, "adherence"),
        ({"adherence": -1}, "adherence"),
        ({"date": "2025-12-31"}, "date"),  # before the goal's start
        ({"date": (date.today() + timedelta(days=3)).isoformat()}, "date"),  # future
        ({"value": 0.0001}, "value"),
        ({"note": "n" * 2001}, "note"),
    ],
)
async def test_check_in_validation(
    client: GraphQLClient, db: Database, values: dict[str, Any], field: str
) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, start_date=date(2026, 1, 1))
    await make_check_in(db, goal, on=date(2026, 1, 5))
    before = await goal_rows(db)
    payload = await run(
        client,
        CHECK_IN,
        {"goalId": gid(goal), "date": "2026-02-01", "value": 70, **values},
        owner,
    )
    assert payload["__typename"] == "ValidationError"
    assert field in _fields(payload)
    assert await goal_rows(db) == before


async def test_check_in_by_readers_strangers_and_on_closed_goals(
    client: GraphQLClient, db: Database
) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    abandoned = await make_goal(db, owner, status="abandoned")
    doctor = await _doctor_of(db, owner)
    coach = await make_coach_of(db, owner)
    stranger = await make_user(db)
    before = await goal_rows(db)
    values = {"goalId": gid(goal), "date": "2026-02-01", "value": 70}
    for viewer, typename in (
        (doctor, "NotAllowed"),
        (coach, "NotAllowed"),
        (stranger, "NotFound"),
        (None, "NotFound"),
    ):
        payload = await run(client, CHECK_IN, values, viewer)
        assert payload["__typename"] == typename
    closed = await run(client, CHECK_IN, {**values, "goalId": gid(abandoned)}, owner)
    assert closed["__typename"] == "GoalClosed"
    assert closed["status"] == "ABANDONED"
    assert await goal_rows(db) == before
    admin = await make_user(db, roles=("admin",))
    by_admin = await run(client, CHECK_IN, values, admin)
    assert by_admin["__typename"] == "CheckInRecorded"


async def test_paused_goal_accepts_check_ins(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, status="paused")
    payload = await run(
        client, CHECK_IN, {"goalId": gid(goal), "date": "2026-02-01", "value": 79}, owner
    )
    assert payload["__typename"] == "CheckInRecorded"


async def test_concurrent_check_ins_same_date(client: GraphQLClient, db: Database) -> None:
    """Many concurrent check-ins for one goal and date: all succeed, one row remains, and
    the goal's current value is that row's value."""
    owner = await make_user(db)
    goal = await make_goal(db, owner, baseline=90, target=80)
    results = await asyncio.gather(
        *(
            run(
                client,
                CHECK_IN,
                {"goalId": gid(goal), "date": "2026-02-01", "value": 80 + n},
                owner,
            )
            for n in range(10)
        )
    )
    assert all(result["__typename"] == "CheckInRecorded" for result in results)
    assert sum(1 for result in results if not result["replaced"]) == 1
    async with db.read() as session:
        rows = (await session.scalars(select(GoalCheckIn))).all()
        stored = await session.get(Goal, goal.id)
    assert len(rows) == 1
    assert stored is not None and stored.current_value == rows[0].value


async def test_milestone_limit(client: GraphQLClient, db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    async with db.transaction() as session:
        session.add_all(
            GoalMilestone(goal_id=goal.id, title=f"M{p}", position=p, completed=False)
            for p in range(50)
        )
    before = await goal_rows(db)
    payload = await run(client, ADD_MILESTONE, {"goalId": gid(goal), "title": "One more"}, owner)
    assert payload["__typename"] == "ValidationError"
    assert "goalId" in _fields(payload)
    assert await goal_rows(db) == before
