"""Goals policy rows: owner, another patient, a doctor with / without / with only a
cancelled appointment with the owner, coach, admin, anon, service_role; through
`goal { milestones checkIns }`, `goals`, `User.goals`, and `totalCount`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from models import Appointment, CoachClient, Doctor, Goal, User
from resolvers.core.database import Database
from resolvers.core.identity import ANON, SERVICE, Viewer
from resolvers.core.loaders import Loaders
from resolvers.goals import (
    CheckInCountByGoalIdLoader,
    GoalByIdLoader,
    MilestonesByGoalIdLoader,
)
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_user, user_of
from tests.goals.factories import make_appointment_row, make_check_in, make_goal, make_milestone

GOAL = """
query ($id: ID!) {
  goal(id: $id) {
    id
    ownerId
    owner { id fullName }
    milestones { id position }
    milestoneCompletion { total }
    checkIns(first: 10) { totalCount edges { node { id date } } }
  }
}
"""

GOALS = """
query {
  goals(first: 50) {
    totalCount
    edges { node { id milestones { id } checkIns(first: 2) { totalCount edges { node { id } } } } }
  }
}
"""

USER_GOALS = """
query ($id: ID!) {
  user(id: $id) {
    id
    goals(first: 10) {
      totalCount
      edges { node { id milestones { id } checkIns { totalCount } } }
    }
  }
}
"""


@dataclass
class World:
    owner: User
    other: User
    doctor_with: User
    doctor_without: User
    doctor_cancelled: User
    coach: User
    coach_other: User
    admin: User
    doctors: dict[str, Doctor]
    goal: Goal
    other_goal: Goal


async def _world(db: Database) -> World:
    owner = await make_user(db, full_name="Olive Owner")
    other = await make_user(db, full_name="Oscar Other")
    coach = await make_user(db, roles=("coach",))
    coach_other = await make_user(db, roles=("coach",))
    admin = await make_user(db, roles=("admin",))
    async with db.transaction() as session:  # the coach coaches the owner, not the other
        session.add(CoachClient(coach_id=coach.id, client_id=owner.id))
    with_doctor = await make_doctor(db)
    without_doctor = await make_doctor(db)
    cancelled_doctor = await make_doctor(db)
    await make_appointment_row(db, with_doctor, owner, status="confirmed")
    await make_appointment_row(db, with_doctor, owner, status="cancelled")
    await make_appointment_row(db, without_doctor, other, status="confirmed")
    await make_appointment_row(db, cancelled_doctor, owner, status="cancelled")
    goal = await make_goal(db, owner, title="Lose weight")
    await make_milestone(db, goal, position=0)
    await make_milestone(db, goal, position=1, completed=True)
    for day in (3, 10, 17):
        await make_check_in(db, goal, on=date(2026, 2, day), value=80 - day // 5)
    other_goal = await make_goal(db, other, title="Walk more", type="habit", baseline=0, target=8)
    await make_milestone(db, other_goal, position=0)
    await make_check_in(db, other_goal, on=date(2026, 2, 1), value=2)
    return World(
        owner=owner,
        other=other,
        doctor_with=await user_of(db, with_doctor),
        doctor_without=await user_of(db, without_doctor),
        doctor_cancelled=await user_of(db, cancelled_doctor),
        coach=coach,
        coach_other=coach_other,
        admin=admin,
        doctors={"with": with_doctor, "without": without_doctor, "cancelled": cancelled_doctor},
        goal=goal,
        other_goal=other_goal,
    )


def _viewer_of(world: World, name: str) -> Any:
    if name == "anon":
        return None
    if name == "service":
        return "service"
    return getattr(world, name)


# viewer -> (sees the owner's goal, ids visible in `goals`, owner visible as a user)
EXPECTED: dict[str, tuple[bool, set[str], bool]] = {
    "owner": (True, {"goal"}, True),
    "other": (False, {"other_goal"}, False),
    "doctor_with": (True, {"goal"}, True),
    # Has a confirmed appointment with the other patient only: sees that patient's goal.
    "doctor_without": (False, {"other_goal"}, False),
    # The users policy lets a doctor see anyone who ever booked them, so the owner is
    # visible as a user; the goals stay hidden because the only appointment is cancelled.
    "doctor_cancelled": (False, set(), True),
    # A coach reads the goals of their assigned clients only; every coach reads names.
    "coach": (True, {"goal"}, True),
    "coach_other": (False, set(), True),
    "admin": (True, {"goal", "other_goal"}, True),
    "anon": (False, set(), False),
    "service": (True, {"goal", "other_goal"}, True),
}


@pytest.mark.parametrize("viewer", list(EXPECTED))
async def test_goal_by_id_with_children(client: GraphQLClient, db: Database, viewer: str) -> None:
    world = await _world(db)
    sees_goal, _, _ = EXPECTED[viewer]
    response = await client.execute(
        GOAL, {"id": gid(world.goal)}, as_user=_viewer_of(world, viewer)
    )
    node = response.data["goal"]
    if not sees_goal:
        assert node is None
        return
    assert node["id"] == gid(world.goal)
    assert node["ownerId"] == gid(world.owner)
    assert node["owner"]["fullName"] == "Olive Owner"
    assert [m["position"] for m in node["milestones"]] == [0, 1]
    assert node["milestoneCompletion"]["total"] == 2
    assert node["checkIns"]["totalCount"] == 3
    assert [edge["node"]["date"] for edge in node["checkIns"]["edges"]] == [
        "2026-02-17",
        "2026-02-10",
        "2026-02-03",
    ]


@pytest.mark.parametrize("viewer", list(EXPECTED))
async def test_goals_list_and_total_count(client: GraphQLClient, db: Database, viewer: str) -> None:
    world = await _world(db)
    _, visible_names, _ = EXPECTED[viewer]
    expected_ids = {gid(getattr(world, name)) for name in visible_names}
    response = await client.execute(GOALS, as_user=_viewer_of(world, viewer))
    connection = response.data["goals"]
    assert {edge["node"]["id"] for edge in connection["edges"]} == expected_ids
    assert connection["totalCount"] == len(expected_ids)
    for edge in connection["edges"]:
        node = edge["node"]
        if node["id"] == gid(world.goal):
            assert len(node["milestones"]) == 2
            assert node["checkIns"]["totalCount"] == 3
            assert len(node["checkIns"]["edges"]) == 2
        else:
            assert len(node["milestones"]) == 1
            assert node["checkIns"]["totalCount"] == 1


@pytest.mark.parametrize("viewer", list(EXPECTED))
async def test_user_goals(client: GraphQLClient, db: Database, viewer: str) -> None:
    world = await _world(db)
    sees_goal, _, sees_user = EXPECTED[viewer]
    response = await client.execute(
        USER_GOALS, {"id": gid(world.owner)}, as_user=_viewer_of(world, viewer)
    )
    user = response.data["user"]
    if not sees_user:
        assert user is None
        return
    goals = user["goals"]
    if sees_goal:
        assert goals["totalCount"] == 1
        assert [edge["node"]["id"] for edge in goals["edges"]] == [gid(world.goal)]
        assert len(goals["edges"][0]["node"]["milestones"]) == 2
        assert goals["edges"][0]["node"]["checkIns"]["totalCount"] == 3
    else:
        assert goals == {"totalCount": 0, "edges": []}


@pytest.mark.parametrize(
    ("status", "visible"),
    [
        ("pending_payment", True),
        ("confirmed", True),
        ("completed", True),
        ("no_show", True),
        ("refunded", True),
        ("cancelled", False),
    ],
)
async def test_doctor_visibility_by_appointment_status(
    client: GraphQLClient, db: Database, status: str, visible: bool
) -> None:
    owner = await make_user(db)
    doctor = await make_doctor(db)
    await make_appointment_row(db, doctor, owner, status=status)
    goal = await make_goal(db, owner)
    await make_milestone(db, goal, position=0)
    doctor_user = await user_of(db, doctor)
    response = await client.execute(GOAL, {"id": gid(goal)}, as_user=doctor_user)
    assert (response.data["goal"] is not None) is visible
    listed = await client.execute(GOALS, as_user=doctor_user)
    assert listed.data["goals"]["totalCount"] == (1 if visible else 0)


async def test_doctor_loses_access_when_the_appointment_is_cancelled(
    client: GraphQLClient, db: Database
) -> None:
    owner = await make_user(db)
    doctor = await make_doctor(db)
    appointment = await make_appointment_row(db, doctor, owner, status="confirmed")
    goal = await make_goal(db, owner)
    doctor_user = await user_of(db, doctor)
    before = await client.execute(GOAL, {"id": gid(goal)}, as_user=doctor_user)
    assert before.data["goal"]["id"] == gid(goal)
    async with db.transaction() as session:
        row = await session.get(Appointment, appointment.id)
        assert row is not None
        row.status = "cancelled"
    after = await client.execute(GOAL, {"id": gid(goal)}, as_user=doctor_user)
    assert after.data["goal"] is None


def _loader_viewer(world: World, name: str) -> Viewer:
    if name == "anon":
        return ANON
    if name == "service":
        return SERVICE
    user: User = getattr(world, name)
    roles = {"patient"}
    doctor_id = None
    if name.startswith("coach"):
        roles.add("coach")
    elif name == "admin":
        roles.add("admin")
    elif name.startswith("doctor_"):
        roles.add("doctor")
        doctor_id = world.doctors[name.removeprefix("doctor_")].id
    return Viewer(
        role="authenticated",
        user_id=user.id,
        email=user.email,
        app_roles=frozenset(roles),
        doctor_id=doctor_id,
    )


@pytest.mark.parametrize("viewer", list(EXPECTED))
async def test_child_policies_on_their_own(db: Database, viewer: str) -> None:
    """Milestones and check-ins are readable exactly when their goal is, even when asked
    for directly by goal id (not through a visible parent)."""
    world = await _world(db)
    sees_goal, _, _ = EXPECTED[viewer]
    loaders = Loaders(db, _loader_viewer(world, viewer))
    goal = await loaders.get(GoalByIdLoader).load(world.goal.id)
    milestones = await loaders.get(MilestonesByGoalIdLoader).load(world.goal.id)
    check_ins = await loaders.get(CheckInCountByGoalIdLoader).load(world.goal.id)
    assert (goal is not None) is sees_goal
    assert len(milestones) == (2 if sees_goal else 0)
    assert check_ins == (3 if sees_goal else 0)
