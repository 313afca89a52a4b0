"""The front desk (`staff`): books, holds, reschedules and cancels for any patient, finds
patients by name, email or phone, reads appointments, payments and contact details, and
never goals, check-ins or lesson progress; the history names the staff member for the
doctor, staff and admins, and only the role for the patient. Patients may not act for
others."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from models import Appointment, AppointmentEvent, SlotHold, User
from resolvers.core.database import Database
from tests.appointments.factories import (
    at,
    local_day_ahead,
    make_appointment,
    make_payment,
    weekday_of,
)
from tests.client import GraphQLClient
from tests.factories import count_rows, gid, make_doctor, make_rule, make_user, user_of
from tests.goals.factories import make_check_in, make_goal
from tests.lessons.factories import make_lesson, make_progress

BOOK = """
mutation ($input: BookAppointmentInput!) {
  bookAppointment(input: $input) {
    __typename
    ... on AppointmentBooked { appointment { id patient { id } history { actorRole actorId } } }
    ... on UserError { code }
  }
}
"""
HOLD = """
mutation ($input: HoldSlotInput!) {
  holdSlot(input: $input) {
    __typename ... on SlotHeld { hold { userId } } ... on UserError { code }
  }
}
"""
CANCEL = """
mutation ($id: ID!) {
  cancelAppointment(input: {id: $id, reason: "called the desk"}) {
    __typename ... on AppointmentUpdated { appointment { status } } ... on UserError { code }
  }
}
"""
HISTORY = "query ($id: ID!) { appointment(id: $id) { history { actorRole actorId } } }"


async def _clinic(db: Database) -> dict[str, Any]:
    doctor = await make_doctor(db, cancellation_policy_hours=24)
    day = local_day_ahead("UTC", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    return {
        "doctor": doctor,
        "doctor_user": await user_of(db, doctor),
        "day": day,
        "staff": await make_user(db, roles=("staff",)),
        "patient": await make_user(db),
        "other": await make_user(db),
        "admin": await make_user(db, roles=("admin",)),
    }


def _slot(clinic: dict[str, Any], clock: time, **extra: Any) -> dict[str, Any]:
    return {
        "input": {
            "doctorId": gid(clinic["doctor"]),
            "startsAt": at(clinic["day"], clock, "UTC").isoformat(),
            **extra,
        }
    }


async def test_staff_book_and_hold_for_a_patient_and_the_history_names_them(
    client: GraphQLClient, db: Database
) -> None:
    clinic = await _clinic(db)
    staff, patient = clinic["staff"], clinic["patient"]
    held = await client.execute(
        HOLD, _slot(clinic, time(10), patientId=gid(patient)), as_user=staff
    )
    assert held.data["holdSlot"]["hold"]["userId"] == gid(patient)
    booked = await client.execute(
        BOOK, _slot(clinic, time(9), patientId=gid(patient)), as_user=staff
    )
    appointment = booked.data["bookAppointment"]["appointment"]
    assert appointment["patient"] == {"id": gid(patient)}
    assert appointment["history"] == [{"actorRole": "STAFF", "actorId": gid(staff)}]

    async def history(viewer: User) -> Any:
        answer = await client.execute(HISTORY, {"id": appointment["id"]}, as_user=viewer)
        return answer.data["appointment"]["history"]

    assert await history(patient) == [{"actorRole": "STAFF", "actorId": None}]
    for viewer in (clinic["doctor_user"], clinic["admin"], staff):
        assert await history(viewer) == [{"actorRole": "STAFF", "actorId": gid(staff)}]


async def test_patients_may_not_act_for_others_and_nothing_is_written(
    client: GraphQLClient, db: Database
) -> None:
    clinic = await _clinic(db)
    patient, other = clinic["patient"], clinic["other"]
    for_other = _slot(clinic, time(9), patientId=gid(other))
    booked = await client.execute(BOOK, for_other, as_user=patient)
    assert booked.data["bookAppointment"]["code"] == "FORBIDDEN"
    held = await client.execute(HOLD, for_other, as_user=patient)
    assert held.data["holdSlot"]["code"] == "FORBIDDEN"
    assert await count_rows(db, Appointment) == 0 and await count_rows(db, SlotHold) == 0
    # Naming oneself is the same as naming no one.
    own = await client.execute(
        BOOK, _slot(clinic, time(9), patientId=gid(patient)), as_user=patient
    )
    assert own.data["bookAppointment"]["__typename"] == "AppointmentBooked"
    unknown = await client.execute(
        BOOK,
        _slot(clinic, time(10), patientId=gid(clinic["doctor"].id, "User")),
        as_user=clinic["staff"],
    )
    assert unknown.data["bookAppointment"]["code"] == "NOT_FOUND"
    assert await count_rows(db, Appointment) == 1


async def test_staff_cancel_inside_the_window_for_the_patient(
    client: GraphQLClient, db: Database
) -> None:
    clinic = await _clinic(db)
    late = await make_appointment(
        db,
        doctor=clinic["doctor"],
        patient=clinic["patient"],
        starts_at=datetime.now(UTC) + timedelta(hours=5),
    )
    refused = await client.execute(CANCEL, {"id": gid(late)}, as_user=clinic["patient"])
    assert refused.data["cancelAppointment"]["__typename"] == "InvalidTransition"
    done = await client.execute(CANCEL, {"id": gid(late)}, as_user=clinic["staff"])
    assert done.data["cancelAppointment"]["appointment"]["status"] == "CANCELLED"
    assert await count_rows(db, AppointmentEvent) == 2


READS = """
query ($goal: ID!, $user: ID!) {
  appointments(first: 10) { totalCount edges { node { id payments { id }
    patient { email phone } } } }
  goals(first: 10) { totalCount }
  goal(id: $goal) { id }
  user(id: $user) { email goals(first: 5) { totalCount } }
  lessonProgress(userId: $user) { totalCount }
}
"""


@pytest.mark.parametrize("role", ["staff", "patient", "other", "admin"])
async def test_staff_read_appointments_payments_and_contacts_never_clinical_data(
    client: GraphQLClient, db: Database, role: str
) -> None:
    clinic = await _clinic(db)
    patient = clinic["patient"]
    appointment = await make_appointment(
        db,
        doctor=clinic["doctor"],
        patient=patient,
        starts_at=datetime.now(UTC) + timedelta(days=3),
    )
    await make_payment(db, appointment)
    goal = await make_goal(db, patient)
    await make_check_in(db, goal, on=date(2026, 2, 1))
    await make_progress(db, patient, await make_lesson(db))
    answer = await client.execute(
        READS, {"goal": gid(goal), "user": gid(patient)}, as_user=clinic[role]
    )
    assert answer.errors == [], answer.errors
    data = answer.data
    sees_appointments = role in ("staff", "patient", "admin")
    assert data["appointments"]["totalCount"] == (1 if sees_appointments else 0)
    if sees_appointments:
        node = data["appointments"]["edges"][0]["node"]
        assert len(node["payments"]) == 1
        assert node["patient"]["email"] == patient.email
    sees_goals = role in ("patient", "admin")
    assert data["goals"]["totalCount"] == (1 if sees_goals else 0)
    assert (data["goal"] is not None) is sees_goals
    if role == "other":
        assert data["user"] is None
    else:
        assert data["user"]["email"] == patient.email
        assert data["user"]["goals"]["totalCount"] == (1 if sees_goals else 0)
    # Lesson progress is the owner's own (and the admins'); never the front desk's.
    assert data["lessonProgress"]["totalCount"] == (1 if role in ("patient", "admin") else 0)


SEARCH = """
query ($search: String, $after: String) {
  patients(search: $search, first: 2, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { fullName email phone } }
  }
}
"""


async def test_the_front_desk_finds_patients_by_name_email_or_phone(
    client: GraphQLClient, db: Database
) -> None:
    staff = await make_user(db, roles=("staff",))
    ana = await make_user(
        db, full_name="Ana Ruiz", email="ana.ruiz@example.test", phone="+34600111222"
    )
    await make_user(db, full_name="Anabel Stone", email="astone@example.test", phone="+44700000001")
    await make_user(db, full_name="Bruno 100%_Sure", email="bruno@example.test", phone=None)

    async def names(search: str | None, viewer: User = staff) -> list[str]:
        answer = await client.execute(SEARCH, {"search": search}, as_user=viewer)
        return [edge["node"]["fullName"] for edge in answer.data["patients"]["edges"]]

    assert await names("ANA") == ["Ana Ruiz", "Anabel Stone"]
    assert await names("ruiz@EXAMPLE") == ["Ana Ruiz"]
    assert await names("600111") == ["Ana Ruiz"]
    assert await names("100%_") == ["Bruno 100%_Sure"]
    assert await names("a%") == [] and await names("n_") == []  # literal, not wildcards
    first = await client.execute(SEARCH, {"search": "an"}, as_user=staff)
    page = first.data["patients"]
    assert page["totalCount"] == 2 and page["edges"][0]["node"]["email"] == ana.email
    for who in (await make_user(db), await make_user(db, roles=("coach",)), None):
        refused = await client.execute(SEARCH, {"search": "ana"}, as_user=who)
        assert refused.codes == ["FORBIDDEN"]
    admin = await make_user(db, roles=("admin",))
    assert await names("stone", admin) == ["Anabel Stone"]
