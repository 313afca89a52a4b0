"""Global object identification: every entity implements `Node`; `node(id)` and
`nodes(ids)` answer through each table's policy for every role; ids are opaque, typed and
stable; an id of another type is refused where a specific type is expected."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from graphql import GraphQLInterfaceType, GraphQLObjectType
from sqlalchemy import select

from models import (
    Appointment,
    AppointmentEvent,
    AvailabilityException,
    CoachClient,
    Comment,
    Coupon,
    Doctor,
    DoctorAvailability,
    Entitlement,
    Goal,
    GoalCheckIn,
    GoalMilestone,
    Lesson,
    LessonProgress,
    Payment,
    Post,
    Report,
    Review,
    SlotHold,
    User,
)
from resolvers.core.database import Database
from resolvers.core.identity import ANON, Viewer
from resolvers.demo.ids import demo_id
from resolvers.policies import readable
from schema import schema
from schema.ids import decode_id, format_id
from schema.node import MAX_NODES
from tests.appointments.factories import (
    make_appointment,
    make_coupon,
    make_hold,
    make_payment,
    make_review,
    viewer_for,
)
from tests.client import GraphQLClient
from tests.community.factories import make_comment, make_post, make_report
from tests.factories import gid, make_doctor, make_exception, make_rule, make_user, user_of
from tests.goals.factories import make_check_in, make_goal, make_milestone
from tests.lessons.factories import make_entitlement, make_lesson, make_progress

NODE = """
query Node($id: ID!) { node(id: $id) { __typename id } }
"""
NODES = """
query Nodes($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }
"""

NOT_NODES = {"Author"}
"""Types with an `id` that are not refetchable: an author is a public projection of a user
that a viewer may read only beside content they can read (DESIGN.md §5)."""


def test_every_type_with_an_id_is_a_node_except_payloads_and_authors() -> None:
    graphql = schema._schema
    node = graphql.get_type("Node")
    assert isinstance(node, GraphQLInterfaceType)
    for name, type_ in graphql.type_map.items():
        if not isinstance(type_, GraphQLObjectType) or "id" not in type_.fields:
            continue
        payload = "deletedId" in type_.fields
        assert (node in type_.interfaces) is not (payload or name in NOT_NODES), name


def test_ids_are_opaque_typed_and_stable() -> None:
    key = demo_id("doctor", "doctor@caregraph.dev")
    doctor_id = format_id("Doctor", key)
    assert str(key) not in doctor_id
    assert decode_id(doctor_id) == ("Doctor", key)
    assert format_id("Doctor", key) == doctor_id
    assert format_id("Appointment", key) != doctor_id
    # The README's demo doctor id, the same on every machine.
    assert doctor_id == "RG9jdG9yOjJlZDk2YmNkLTJmYmItNWY4YS04MmI4LTRkOTEyYzNjNDE4Mg"
    assert decode_id("not an id") is None
    assert decode_id(str(key)) is None


@dataclass
class World:
    rows: list[Any]
    viewers: dict[str, tuple[Viewer, User | None]]


async def _world(db: Database) -> World:
    patient = await make_user(db)
    other = await make_user(db)
    coach = await make_user(db, roles=("coach",))
    admin = await make_user(db, roles=("admin",))
    doctor = await make_doctor(db)
    doctor_user = await user_of(db, doctor)
    hidden_doctor = await make_doctor(db, verified=False)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=soon, status="completed"
    )
    async with db.read() as session:
        event = (
            await session.execute(
                select(AppointmentEvent).where(AppointmentEvent.appointment_id == appointment.id)
            )
        ).scalar_one()
    goal = await make_goal(db, patient)
    lesson = await make_lesson(db)
    draft = await make_lesson(db, published=False)
    post = await make_post(db, patient)
    rows: list[Any] = [
        patient,
        other,
        doctor,
        hidden_doctor,
        await make_rule(db, doctor, day_of_week=1, start=time(9), end=time(12)),
        await make_exception(db, doctor, on=date.today() + timedelta(days=9)),
        appointment,
        event,
        await make_hold(db, doctor=doctor, user=patient, starts_at=soon + timedelta(days=1)),
        await make_payment(db, appointment),
        await make_review(db, appointment),
        await make_coupon(db, code=f"NODE{uuid.uuid4().hex[:6].upper()}", doctor_id=doctor.id),
        goal,
        await make_milestone(db, goal, position=0),
        await make_check_in(db, goal, on=date.today()),
        lesson,
        draft,
        await make_progress(db, patient, lesson),
        await make_entitlement(db, patient),
        post,
        await make_post(db, other, published=False),
        await make_comment(db, post, other),
        await make_report(db, other, post),
    ]
    link = CoachClient(coach_id=coach.id, client_id=patient.id)
    async with db.transaction() as session:
        session.add(link)
    rows.append(link)
    viewers: dict[str, tuple[Viewer, User | None]] = {
        "anon": (ANON, None),
        "patient": (viewer_for(patient), patient),
        "other patient": (viewer_for(other), other),
        "doctor": (viewer_for(doctor_user, doctor=doctor), doctor_user),
        "coach": (viewer_for(coach, roles=("coach",)), coach),
        "admin": (viewer_for(admin, roles=("admin",)), admin),
    }
    return World(rows, viewers)


async def _readable(db: Database, viewer: Viewer, row: Any) -> bool:
    model = type(row)
    async with db.read() as session:
        found = await session.scalar(
            select(model.id).where(readable(model, viewer), model.id == row.id)
        )
    return found is not None


MODELS = {
    Appointment,
    AppointmentEvent,
    AvailabilityException,
    CoachClient,
    Comment,
    Coupon,
    Doctor,
    DoctorAvailability,
    Entitlement,
    Goal,
    GoalCheckIn,
    GoalMilestone,
    Lesson,
    LessonProgress,
    Payment,
    Post,
    Report,
    Review,
    SlotHold,
    User,
}


@pytest.mark.parametrize("role", ["anon", "patient", "other patient", "doctor", "coach", "admin"])
async def test_node_and_nodes_answer_through_each_tables_policy(
    client: GraphQLClient, db: Database, role: str
) -> None:
    world = await _world(db)
    assert {type(row) for row in world.rows} == MODELS
    viewer, user = world.viewers[role]
    ids = [gid(row) for row in world.rows]
    expected = [await _readable(db, viewer, row) for row in world.rows]
    # Each role reads some rows and not others (the test can fail both ways).
    assert any(expected) or role == "anon"
    assert not all(expected) or role == "admin"

    for row, row_id, visible in zip(world.rows, ids, expected, strict=True):
        answer = await client.execute(NODE, {"id": row_id}, as_user=user)
        assert answer.errors == [], answer.errors
        node = answer.data["node"]
        assert (node is not None) is visible, (role, type(row).__name__)
        if node is not None:
            assert node["id"] == row_id

    together = await client.execute(NODES, {"ids": ids}, as_user=user)
    assert together.errors == []
    got = [node is not None for node in together.data["nodes"]]
    assert got == expected
    # One statement per type, whatever the mix, plus the viewer's own.
    assert together.statements <= len(MODELS) + 1


async def test_nodes_take_one_statement_per_type_for_any_number_of_ids(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    goals = [await make_goal(db, admin) for _ in range(12)]
    posts = [await make_post(db, admin) for _ in range(12)]
    few = await client.execute(NODES, {"ids": [gid(goals[0]), gid(posts[0])]}, as_user=admin)
    many = await client.execute(NODES, {"ids": [gid(row) for row in goals + posts]}, as_user=admin)
    assert [node["id"] for node in many.data["nodes"]] == [gid(row) for row in goals + posts]
    assert few.statements == many.statements == 3  # viewer, goals, posts


async def test_nodes_is_bounded_and_unknown_ids_are_null(
    client: GraphQLClient, db: Database
) -> None:
    admin = await make_user(db, roles=("admin",))
    unknown = format_id("Goal", uuid.uuid4())
    answer = await client.execute(
        NODES,
        {"ids": [unknown, "garbage", str(uuid.uuid4()), format_id("Nope", uuid.uuid4())]},
        as_user=admin,
    )
    assert answer.errors == []
    assert answer.data["nodes"] == [None, None, None, None]
    too_many = await client.execute(NODES, {"ids": [unknown] * (MAX_NODES + 1)}, as_user=admin)
    assert too_many.codes == ["BAD_USER_INPUT"]
    assert "`ids`" in too_many.errors[0]["message"]


async def test_the_viewer_node_is_the_callers_own(client: GraphQLClient, db: Database) -> None:
    patient = await make_user(db)
    other = await make_user(db)
    own = await client.execute("{ viewer { id } }", as_user=patient)
    viewer_id = own.data["viewer"]["id"]
    assert viewer_id != gid(patient)
    assert (await client.execute(NODE, {"id": viewer_id}, as_user=patient)).data["node"] == {
        "__typename": "Viewer",
        "id": viewer_id,
    }
    assert (await client.execute(NODE, {"id": viewer_id}, as_user=other)).data["node"] is None


async def test_an_id_of_another_type_is_refused_naming_the_argument(
    client: GraphQLClient, db: Database
) -> None:
    patient = await make_user(db)
    doctor = await make_doctor(db)
    goal = await make_goal(db, patient)

    read = await client.execute(
        "query ($id: ID!) { doctor(id: $id) { id } }", {"id": gid(goal)}, as_user=patient
    )
    assert read.codes == ["BAD_USER_INPUT"]
    assert "`id` is the id of a Goal, not of a Doctor" in read.errors[0]["message"]

    booking = await client.execute(
        """
        mutation ($input: BookAppointmentInput!) {
          bookAppointment(input: $input) {
            __typename ... on ValidationError { fields { field messages } }
          }
        }
        """,
        {"input": {"doctorId": gid(goal), "startsAt": "2031-01-06T09:00:00Z"}},
        as_user=patient,
    )
    result = booking.data["bookAppointment"]
    assert result["__typename"] == "ValidationError"
    assert result["fields"] == [
        {"field": "doctorId", "messages": ["the id of a Goal, not of a Doctor"]}
    ]
    # The right type goes through to the booking rules.
    right = await client.execute(
        "query ($id: ID!) { doctor(id: $id) { id } }", {"id": gid(doctor)}, as_user=patient
    )
    assert right.data["doctor"] == {"id": gid(doctor)}


async def test_inputs_still_take_the_bare_uuid_of_the_previous_id_format(
    client: GraphQLClient, db: Database
) -> None:
    patient = await make_user(db)
    doctor = await make_doctor(db)
    answer = await client.execute(
        "query ($id: ID!) { doctor(id: $id) { id } }", {"id": str(doctor.id)}, as_user=patient
    )
    assert answer.data["doctor"] == {"id": gid(doctor)}
