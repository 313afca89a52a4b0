"""The product decisions of DESIGN.md §5, for every role they name, both ways: who sees a
patient's contact details, who sees the person behind a change of an appointment, and
where the patient's rescheduling stops."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import update

from models import Appointment, User
from resolvers.core.database import Database
from tests.appointments.factories import at, local_day_ahead, make_appointment, weekday_of
from tests.client import GraphQLClient
from tests.factories import gid, make_doctor, make_rule, make_user, user_of

CONTACT = """
query ($id: ID!) { user(id: $id) { fullName email phone timezone avatarUrl } }
"""
PATIENTS_OF_DAY = """
{ appointments(first: 10) { edges { node { patient { fullName email phone } } } } }
"""


async def _cancel(db: Database, appointment: Appointment) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Appointment)
            .where(Appointment.id == appointment.id)
            .values(status="cancelled", cancelled_at=datetime.now(UTC))
        )


async def test_contact_details_follow_the_care_relationship(
    client: GraphQLClient, db: Database
) -> None:
    patient = await make_user(db, phone="+15550001111")
    doctor = await make_doctor(db)
    doctor_user = await user_of(db, doctor)
    other_doctor_user = await user_of(db, await make_doctor(db))
    coach = await make_user(db, roles=("coach",))
    admin = await make_user(db, roles=("admin",))
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(days=3)
    )
    full = {
        "fullName": patient.full_name,
        "email": patient.email,
        "phone": "+15550001111",
        "timezone": patient.timezone,
        "avatarUrl": None,
    }
    name_only = {**full, "email": None, "phone": None}

    async def seen(viewer: User) -> Any:
        return (await client.execute(CONTACT, {"id": gid(patient)}, as_user=viewer)).data["user"]

    async def listed(viewer: User) -> Any:
        answer = await client.execute(PATIENTS_OF_DAY, as_user=viewer)
        return [edge["node"]["patient"] for edge in answer.data["appointments"]["edges"]]

    assert await seen(patient) == full
    assert await seen(admin) == full
    assert await seen(doctor_user) == full
    assert await listed(doctor_user) == [{k: full[k] for k in ("fullName", "email", "phone")}]
    assert await seen(coach) == name_only  # name, avatar and time zone, nothing else
    assert await seen(other_doctor_user) is None

    await _cancel(db, appointment)
    # The doctor still reads the name on their (cancelled) appointment, not the contact.
    assert await seen(doctor_user) == name_only
    assert await listed(doctor_user) == [
        {"fullName": patient.full_name, "email": None, "phone": None}
    ]
    assert await seen(admin) == full
    assert await seen(patient) == full


HISTORY = """
query ($id: ID!) { appointment(id: $id) { history { id kind actorRole actorId } } }
"""
CHANGE = """
mutation ($id: ID!) {
  confirmAppointment(input: {id: $id}) { __typename }
}
"""
CANCEL = """
mutation ($id: ID!) {
  cancelAppointment(input: {id: $id, reason: "travel"}) { __typename }
}
"""
EVENT = """
query ($id: ID!) { node(id: $id) { ... on AppointmentEvent { actorRole actorId } } }
"""


async def test_patients_see_who_changed_their_appointment_as_a_role(
    client: GraphQLClient, db: Database
) -> None:
    patient = await make_user(db)
    doctor = await make_doctor(db, cancellation_policy_hours=24)
    doctor_user = await user_of(db, doctor)
    admin = await make_user(db, roles=("admin",))
    appointment = await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=datetime.now(UTC) + timedelta(days=3),
        status="pending_payment",
    )
    confirmed = await client.execute(CHANGE, {"id": gid(appointment)}, as_user=doctor_user)
    assert confirmed.data["confirmAppointment"]["__typename"] == "AppointmentUpdated"
    cancelled = await client.execute(CANCEL, {"id": gid(appointment)}, as_user=patient)
    assert cancelled.data["cancelAppointment"]["__typename"] == "AppointmentUpdated"

    async def history(viewer: User) -> list[tuple[str, str, str | None]]:
        answer = await client.execute(HISTORY, {"id": gid(appointment)}, as_user=viewer)
        return [
            (event["kind"], event["actorRole"], event["actorId"])
            for event in answer.data["appointment"]["history"]
        ]

    by_person = [
        ("CREATED", "PATIENT", gid(patient)),
        ("STATUS_CHANGED", "DOCTOR", gid(doctor_user)),
        ("STATUS_CHANGED", "PATIENT", gid(patient)),
    ]
    assert await history(doctor_user) == by_person
    assert await history(admin) == by_person
    # The patient sees their own changes, and the doctor's only as a role.
    assert await history(patient) == [
        ("CREATED", "PATIENT", gid(patient)),
        ("STATUS_CHANGED", "DOCTOR", None),
        ("STATUS_CHANGED", "PATIENT", gid(patient)),
    ]
    # The same through `node`, where the event comes without its appointment.
    answer = await client.execute(HISTORY, {"id": gid(appointment)}, as_user=admin)
    doctor_event = answer.data["appointment"]["history"][1]["id"]
    as_patient = await client.execute(EVENT, {"id": doctor_event}, as_user=patient)
    assert as_patient.data["node"] == {"actorRole": "DOCTOR", "actorId": None}
    as_doctor = await client.execute(EVENT, {"id": doctor_event}, as_user=doctor_user)
    assert as_doctor.data["node"] == {"actorRole": "DOCTOR", "actorId": gid(doctor_user)}


RESCHEDULE = """
mutation ($id: ID!, $startsAt: DateTime!) {
  rescheduleAppointment(input: {id: $id, startsAt: $startsAt}) {
    __typename ... on InvalidTransition { message }
  }
}
"""


async def test_a_patient_reschedules_only_before_the_cancellation_window(
    client: GraphQLClient, db: Database
) -> None:
    doctor = await make_doctor(db, cancellation_policy_hours=24)
    doctor_user = await user_of(db, doctor)
    patient = await make_user(db)
    day = local_day_ahead("UTC", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    now = datetime.now(UTC).replace(microsecond=0)
    outside = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=now + timedelta(hours=24, minutes=10)
    )
    inside = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=now + timedelta(hours=23, minutes=50)
    )

    async def move(appointment: Appointment, clock: time, viewer: User) -> dict[str, Any]:
        answer = await client.execute(
            RESCHEDULE,
            {"id": gid(appointment), "startsAt": at(day, clock, "UTC").isoformat()},
            as_user=viewer,
        )
        return dict(answer.data["rescheduleAppointment"])

    assert (await move(outside, time(9), patient))["__typename"] == "AppointmentUpdated"
    refused = await move(inside, time(10), patient)
    assert refused["__typename"] == "InvalidTransition"
    assert "24 hours" in refused["message"]
    # The doctor runs their schedule inside the window too.
    assert (await move(inside, time(10), doctor_user))["__typename"] == "AppointmentUpdated"
