"""Statement templates (resolvers/core/statement_templates.py): one statement per call site
and viewer shape serves every viewer of that shape with their own ids bound, never another's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select

from models import Doctor, Goal
from resolvers.core import statement_templates
from resolvers.core.database import Database, StatementCounter, statement_counter
from resolvers.core.identity import Viewer
from resolvers.core.statement_templates import AnySelect, any_of, fetch_models, statement_for
from resolvers.policies import visible
from tests.appointments.factories import make_appointment
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_user
from tests.goals.factories import make_goal

GOALS = "query { goals(first: 10) { edges { node { id title } } } }"


def _patient(user_id: uuid.UUID) -> Viewer:
    return Viewer(role="authenticated", user_id=user_id, app_roles=frozenset({"patient"}))


async def test_one_template_serves_each_viewer_their_own_rows(
    client: GraphQLClient, db: Database
) -> None:
    first, second = await make_user(db), await make_user(db)
    first_goal = await make_goal(db, first, title="First's goal")
    second_goal = await make_goal(db, second, title="Second's goal")

    seen_first = await client.execute(GOALS, as_user=first)
    built = dict(statement_templates._templates)
    seen_second = await client.execute(GOALS, as_user=second)

    assert [edge["node"]["id"] for edge in seen_first.data["goals"]["edges"]] == [gid(first_goal)]
    assert [edge["node"]["id"] for edge in seen_second.data["goals"]["edges"]] == [gid(second_goal)]
    # The second viewer reused the first one's statements: nothing new was built.
    assert statement_templates._templates.keys() == built.keys()
    assert all(statement_templates._templates[key] is built[key] for key in built)


async def test_a_template_is_built_per_viewer_shape(db: Database) -> None:
    patient = _patient(uuid.uuid4())
    admin = Viewer(role="authenticated", user_id=uuid.uuid4(), app_roles=frozenset({"admin"}))
    key = ("test", "per shape")
    for_patient, patient_values, _ = statement_for(key, patient, lambda v: visible(Goal, v))
    for_admin, admin_values, _ = statement_for(key, admin, lambda v: visible(Goal, v))
    assert for_patient is not for_admin
    assert patient_values["viewer_user_id"] == patient.user_id
    assert admin_values["viewer_user_id"] == admin.user_id
    # The admin's statement has no owner condition; the patient's binds the viewer's id.
    assert "viewer_user_id" in str(for_patient)
    assert "viewer_user_id" not in str(for_admin)


async def test_a_builder_that_binds_the_real_viewer_is_refused(db: Database) -> None:
    viewer = _patient(uuid.uuid4())
    with pytest.raises(RuntimeError, match="binds the viewer's id"):
        statement_for(
            ("test", "leaky"),
            viewer,
            lambda _stand_in: select(Goal).where(Goal.owner_id == viewer.user_id),
        )


async def test_a_builder_that_needs_real_values_is_built_per_call(db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner)
    other = await make_user(db)

    def build(viewer: Viewer) -> AnySelect:
        # Compares the id in Python: impossible with the stand-in's bind parameter.
        if viewer.user_id == owner.id:
            return visible(Goal, viewer)
        return visible(Goal, viewer).where(Goal.id.is_(None))

    key = ("test", "python comparison")
    owner_rows = await fetch_models(db, key, _patient(owner.id), Goal, build)
    other_rows = await fetch_models(db, key, _patient(other.id), Goal, build)
    assert [row.id for row in owner_rows] == [goal.id]
    assert other_rows == []
    assert isinstance(
        statement_templates._templates[
            (key, statement_templates._viewer_shape(_patient(owner.id)))
        ],
        statement_templates._Untemplatable,
    )


async def test_instances_match_what_the_orm_loads(db: Database) -> None:
    owner = await make_user(db)
    goal = await make_goal(db, owner, description="Walk more", importance=4)
    viewer = _patient(owner.id)
    [loaded] = await fetch_models(
        db,
        ("test", "instances"),
        viewer,
        Goal,
        lambda v: visible(Goal, v).where(any_of(Goal.id)),
        keys=[goal.id],
    )
    async with db.read() as session:
        orm_goal = (await session.scalars(select(Goal).where(Goal.id == goal.id))).one()
    for attribute in inspect(Goal).column_attrs:
        assert getattr(loaded, attribute.key) == getattr(orm_goal, attribute.key), attribute.key
        assert type(getattr(loaded, attribute.key)) is type(getattr(orm_goal, attribute.key))
    assert type(loaded) is Goal
    # A read-only value: no instance state, so no session could take it up as a row.
    assert inspect(loaded, raiseerr=False) is None


async def test_a_kept_statement_runs_straight_on_the_driver(db: Database) -> None:
    """From its second run a template goes to asyncpg with its SQL text: same rows, same
    types (array columns included), one statement counted."""
    doctor = await make_doctor(
        db, specialties=["Cardiology", "Sleep"], qualifications=[{"title": "MD"}]
    )
    other = await make_doctor(db, specialties=["Dermatology"])
    viewer = _patient(uuid.uuid4())
    key = ("test", "prepared")

    def build(for_viewer: Viewer) -> AnySelect:
        return visible(Doctor, for_viewer).where(any_of(Doctor.id)).order_by(Doctor.full_name)

    through_sqlalchemy = await fetch_models(db, key, viewer, Doctor, build, keys=[doctor.id])
    statement, _, reusable = statement_for(key, viewer, build)
    assert reusable and db._prepared[id(statement)][1] is not None

    counter = StatementCounter()
    token = statement_counter.set(counter)
    try:
        prepared = await fetch_models(db, key, viewer, Doctor, build, keys=[doctor.id, other.id])
    finally:
        statement_counter.reset(token)
    assert counter.count == 1
    assert {row.id for row in prepared} == {doctor.id, other.id}
    assert [row.full_name for row in prepared] == sorted([doctor.full_name, other.full_name])
    [same] = [row for row in prepared if row.id == doctor.id]
    for attribute in inspect(Doctor).column_attrs:
        expected = getattr(through_sqlalchemy[0], attribute.key)
        assert getattr(same, attribute.key) == expected, attribute.key
        assert type(getattr(same, attribute.key)) is type(expected), attribute.key
    assert same.specialties == ["Cardiology", "Sleep"]
    assert same.qualifications == [{"title": "MD"}]


async def test_a_doctor_filtering_by_their_own_doctor_id(
    client: GraphQLClient, db: Database
) -> None:
    """The filter's doctor is a parameter without a value in the template: the viewer's
    own doctor id as the filter is not taken for a builder that bound the real viewer."""
    owner = await make_user(db, roles=("doctor",))
    doctor = await make_doctor(db, user=owner)
    patient = await make_user(db)
    booked = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(days=2)
    )
    query = """query ($doctor: ID!) {
      appointments(first: 5, filter: {doctorId: $doctor}) { edges { node { id } } totalCount }
    }"""
    for _ in range(2):  # built, then reused
        response = await client.execute(query, {"doctor": gid(doctor)}, as_user=owner)
        assert response.errors == [], response.errors
        assert response.data["appointments"] == {
            "edges": [{"node": {"id": gid(booked)}}],
            "totalCount": 1,
        }
