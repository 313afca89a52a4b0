"""Authorization audit: booking-side gaps (care relationship after a cancelled-then-refunded
appointment, coupon codes of other doctors, holds on one's own schedule) and the
mutation inputs that reference other people's rows by id."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from models import Appointment, AppointmentEvent, CouponUsage, Doctor, SlotHold, User
from resolvers.core.database import Database
from tests.appointments.factories import (
    at,
    local_day_ahead,
    make_appointment,
    make_coupon,
    make_payment,
    weekday_of,
)
from tests.client import GraphQLClient
from tests.factories import count_rows, gid, make_doctor, make_rule, make_user, user_of
from tests.goals.factories import make_check_in, make_goal, make_milestone

GOAL_PATHS = """
query ($goal: ID!, $user: ID!, $doctor: ID!) {
  goal(id: $goal) { id milestones { id } checkIns { totalCount } }
  user(id: $user) { id email goals { totalCount edges { node { id } } } }
  goals { totalCount }
  doctor(id: $doctor) {
    appointments { totalCount edges { node { id
      patient { id goals { totalCount edges { node { id checkIns { totalCount } } } } } } } }
  }
}
"""
CANCEL = """
mutation ($id: ID!) { cancelAppointment(input: {id: $id}) { __typename
  ... on AppointmentUpdated { appointment { status } } } }
"""
STATUS = """query ($id: ID!) { appointment(id: $id) { status } }"""
BOOK = """
mutation ($input: BookAppointmentInput!) {
  bookAppointment(input: $input) {
    __typename
    ... on AppointmentBooked { appointment { id } }
    ... on SlotUnavailable { code }
    ... on CouponInvalid { code reason message }
    ... on ValidationError { code fields { field messages } }
    ... on NotAllowed { code }
    ... on NotFound { code message }
  }
}
"""
HOLD = """
mutation ($input: HoldSlotInput!) {
  holdSlot(input: $input) {
    __typename
    ... on SlotHeld { hold { id } }
    ... on SlotUnavailable { code }
    ... on NotAllowed { code }
    ... on NotFound { code }
    ... on ValidationError { fields { field } }
  }
}
"""


async def _care_world(db: Database) -> tuple[Doctor, User, User, Any, Appointment]:
    doctor = await make_doctor(db)
    patient = await make_user(db)
    admin = await make_user(db, roles=("admin",))
    goal = await make_goal(db, patient)
    await make_milestone(db, goal, position=0)
    await make_check_in(db, goal, on=date(2026, 2, 1))
    appointment = await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=datetime.now(UTC) + timedelta(days=5),
        status="confirmed",
    )
    return doctor, patient, admin, goal, appointment


def _variables(goal: Any, patient: User, doctor: Doctor) -> dict[str, str]:
    return {"goal": gid(goal), "user": gid(patient), "doctor": gid(doctor)}


async def test_doctor_reads_goals_only_while_the_care_relationship_is_live(
    client: GraphQLClient, db: Database
) -> None:
    """DESIGN §5: a doctor reads goals of patients with a *non-cancelled* appointment.
    An appointment that was cancelled and then refunded (cancelled -> refunded) is still a
    cancelled booking: it must not reopen the patient's goals to the doctor."""
    doctor, patient, admin, goal, appointment = await _care_world(db)
    doctor_user = await user_of(db, doctor)
    variables = _variables(goal, patient, doctor)

    live = await client.execute(GOAL_PATHS, variables, as_user=doctor_user)
    assert live.data["goal"] is not None
    assert live.data["user"]["goals"]["totalCount"] == 1
    assert live.data["goals"]["totalCount"] == 1

    await make_payment(db, appointment)
    cancelled = await client.execute(CANCEL, {"id": gid(appointment)}, as_user=doctor_user)
    assert cancelled.data["cancelAppointment"]["__typename"] == "AppointmentUpdated"
    # The doctor cancelled: the payment is refunded in full by the policy, at once (paid at
    # the desk), and the appointment moves on to REFUNDED.
    refunded = await client.execute(STATUS, {"id": gid(appointment)}, as_user=admin)
    assert refunded.data["appointment"]["status"] == "REFUNDED"

    after = await client.execute(GOAL_PATHS, variables, as_user=doctor_user)
    assert not after.errors
    assert after.data["goal"] is None
    assert after.data["goals"]["totalCount"] == 0
    # The user row itself stays readable (own patients' name and contact), its goals not.
    assert after.data["user"]["goals"] == {"totalCount": 0, "edges": []}
    nested = after.data["doctor"]["appointments"]["edges"]
    assert [edge["node"]["patient"]["goals"]["totalCount"] for edge in nested] == [0]


async def test_completed_then_refunded_keeps_the_care_relationship(
    client: GraphQLClient, db: Database
) -> None:
    """The stricter reading only removes cancelled bookings: an appointment that took place
    (completed) and was refunded afterwards still counts."""
    doctor = await make_doctor(db)
    patient = await make_user(db)
    goal = await make_goal(db, patient)
    await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=datetime.now(UTC) - timedelta(days=3),
        status="refunded",
    )
    response = await client.execute(
        GOAL_PATHS, _variables(goal, patient, doctor), as_user=await user_of(db, doctor)
    )
    assert response.data["goal"] == {
        "id": gid(goal),
        "milestones": [],
        "checkIns": {"totalCount": 0},
    }


async def _bookable(db: Database) -> tuple[Doctor, User, datetime]:
    doctor = await make_doctor(db, timezone="Europe/London")
    day = local_day_ahead("Europe/London", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    return doctor, await make_user(db), at(day, time(9), "Europe/London")


async def _booking_state(db: Database) -> tuple[int, ...]:
    return (
        await count_rows(db, Appointment),
        await count_rows(db, AppointmentEvent),
        await count_rows(db, CouponUsage),
        await count_rows(db, SlotHold),
    )


async def test_another_doctors_coupon_is_indistinguishable_from_an_unknown_code(
    client: GraphQLClient, db: Database
) -> None:
    """Coupons are never listed to patients (DESIGN §5). Booking with another doctor's
    code must not reveal that the code exists: the answer equals that for a made-up code."""
    doctor, patient, slot = await _bookable(db)
    other = await make_doctor(db)
    await make_coupon(db, code="OTHERDOC", doctor_id=other.id)
    before = await _booking_state(db)
    answers = []
    for code in ("OTHERDOC", "NOSUCHCODE"):
        response = await client.execute(
            BOOK,
            {
                "input": {
                    "doctorId": gid(doctor),
                    "startsAt": slot.isoformat(),
                    "couponCode": code,
                }
            },
            as_user=patient,
        )
        answers.append(response.data["bookAppointment"])
    assert answers[0] == answers[1]
    assert answers[0]["reason"] == "UNKNOWN"
    assert await _booking_state(db) == before


async def test_a_doctor_cannot_hold_a_slot_on_their_own_schedule(
    client: GraphQLClient, db: Database
) -> None:
    """Doctors cannot book themselves; a hold is the first step of a booking, so holding
    one's own slot (which hides it from patients) is refused the same way, with nothing
    written."""
    doctor, patient, slot = await _bookable(db)
    doctor_user = await user_of(db, doctor)
    variables = {"input": {"doctorId": gid(doctor), "startsAt": slot.isoformat()}}
    response = await client.execute(HOLD, variables, as_user=doctor_user)
    assert response.data["holdSlot"] == {"__typename": "NotAllowed", "code": "FORBIDDEN"}
    assert await count_rows(db, SlotHold) == 0
    # A patient still holds it.
    held = await client.execute(HOLD, variables, as_user=patient)
    assert held.data["holdSlot"]["__typename"] == "SlotHeld"


async def test_holds_and_bookings_of_unverified_doctors_look_like_unknown_doctors(
    client: GraphQLClient, db: Database
) -> None:
    """Not-found before forbidden: an unverified doctor is invisible to patients, so holds
    and bookings answer NOT_FOUND, exactly as for a random id."""
    doctor, patient, slot = await _bookable(db)
    async with db.transaction() as session:
        row = await session.get(Doctor, doctor.id)
        assert row is not None
        row.verified = False
    before = await _booking_state(db)
    messages: set[str] = set()
    for doctor_id in (gid(doctor), "00000000-0000-4000-8000-000000000001"):
        variables = {"input": {"doctorId": doctor_id, "startsAt": slot.isoformat()}}
        held = await client.execute(HOLD, variables, as_user=patient)
        assert held.data["holdSlot"] == {"__typename": "NotFound", "code": "NOT_FOUND"}
        booked = await client.execute(BOOK, variables, as_user=patient)
        assert booked.data["bookAppointment"]["__typename"] == "NotFound"
        assert booked.data["bookAppointment"]["code"] == "NOT_FOUND"
        messages.add(booked.data["bookAppointment"]["message"])
    assert len(messages) == 1, "a hidden doctor must answer exactly like a missing one"
    assert await _booking_state(db) == before


CONFIRM_THEN_CANCEL = """
mutation ($id: ID!) {
  a: confirmAppointment(input: {id: $id}) { __typename
    ... on AppointmentUpdated { appointment { patient { goals { totalCount } } } } }
  b: cancelAppointment(input: {id: $id}) { __typename
    ... on AppointmentUpdated { appointment { status patient { goals { totalCount } } } } }
}
"""


async def test_a_later_mutation_field_does_not_answer_from_stale_policy_reads(
    client: GraphQLClient, db: Database
) -> None:
    """Mutation fields run in order; the second field's payload must reflect the access
    the viewer has after the first field's write, not rows cached before it."""
    doctor = await make_doctor(db)
    patient = await make_user(db)
    await make_goal(db, patient)
    appointment = await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=datetime.now(UTC) + timedelta(days=3),
        status="pending_payment",
    )
    response = await client.execute(
        CONFIRM_THEN_CANCEL, {"id": gid(appointment)}, as_user=await user_of(db, doctor)
    )
    assert not response.errors, response.errors
    assert response.data["a"]["appointment"]["patient"]["goals"] == {"totalCount": 1}
    assert response.data["b"]["appointment"]["status"] == "CANCELLED"
    assert response.data["b"]["appointment"]["patient"]["goals"] == {"totalCount": 0}
