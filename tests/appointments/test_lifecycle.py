"""Life cycle: the state machine, who may move what, the cancellation window,
rescheduling, and the event history; errors leave the database unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from models import Appointment, AppointmentEvent, Doctor, User
from resolvers.core.database import Database
from tests.appointments.factories import at, fetch, local_day_ahead, make_appointment, weekday_of
from tests.client import GraphQLClient
from tests.factories import count_rows, gid, make_doctor, make_rule, make_user, user_of

CHANGE = """
mutation ($id: ID!, $reason: String) {
  confirm: confirmAppointment(input: {id: $id}) { ...R }
}
fragment R on AppointmentChangeResult {
  __typename
  ... on AppointmentUpdated { appointment { status cancellationReason
      history { kind fromStatus toStatus actorRole actorId note } } }
  ... on InvalidTransition { code fromStatus toStatus message }
  ... on NotAllowed { code }
  ... on NotFound { code }
  ... on ValidationError { code fields { field } }
}
"""


def _op(mutation: str) -> str:
    if mutation == "cancelAppointment":
        args = "{id: $id, reason: $reason}"
        operation = CHANGE
    else:
        args = "{id: $id}"
        operation = CHANGE.replace(", $reason: String", "")
    return operation.replace(
        "confirm: confirmAppointment(input: {id: $id})", f"result: {mutation}(input: {args})"
    )


RESCHEDULE = """
mutation ($id: ID!, $startsAt: DateTime!) {
  rescheduleAppointment(input: {id: $id, startsAt: $startsAt, reason: "moved"}) {
    __typename
    ... on AppointmentUpdated { appointment { startsAt endsAt status
        history { kind previousStartsAt newStartsAt note } } }
    ... on SlotUnavailable { code }
    ... on InvalidTransition { code }
    ... on NotAllowed { code }
    ... on NotFound { code }
  }
}
"""


async def _world(db: Database) -> tuple[Doctor, User, User, User, User]:
    doctor = await make_doctor(db, cancellation_policy_hours=24)
    doctor_user = await user_of(db, doctor)
    patient = await make_user(db)
    admin = await make_user(db, roles=("admin",))
    stranger = await make_user(db)
    return doctor, doctor_user, patient, admin, stranger


async def _snapshot(db: Database, appointment: Appointment) -> tuple[Any, ...]:
    row = await fetch(db, Appointment, appointment.id)
    return (row.status, row.starts_at, row.cancelled_at, await count_rows(db, AppointmentEvent))


async def _run(
    client: GraphQLClient,
    mutation: str,
    appointment: Appointment,
    who: Any,
    reason: str | None = None,
) -> dict[str, Any]:
    response = await client.execute(
        _op(mutation),
        {
            "id": gid(appointment),
            **({"reason": reason} if mutation == "cancelAppointment" else {}),
        },
        as_user=who,
    )
    return response.data["result"]


FUTURE = timedelta(days=5)
PAST = timedelta(hours=-2)


@pytest.mark.parametrize(
    ("mutation", "status", "offset", "expected"),
    [
        ("confirmAppointment", "pending_payment", FUTURE, "CONFIRMED"),
        ("completeAppointment", "confirmed", PAST, "COMPLETED"),
        ("markNoShow", "confirmed", PAST, "NO_SHOW"),
        ("cancelAppointment", "confirmed", FUTURE, "CANCELLED"),
        ("cancelAppointment", "pending_payment", PAST, "CANCELLED"),
    ],
)
async def test_doctor_runs_the_appointment(
    client: GraphQLClient,
    db: Database,
    mutation: str,
    status: str,
    offset: timedelta,
    expected: str,
) -> None:
    doctor, doctor_user, patient, _admin, _stranger = await _world(db)
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + offset, status=status
    )
    result = await _run(client, mutation, appointment, doctor_user, reason="doctor ill")
    assert result["__typename"] == "AppointmentUpdated", result
    assert result["appointment"]["status"] == expected
    last = result["appointment"]["history"][-1]
    assert last["fromStatus"] == status.upper() and last["toStatus"] == expected
    assert last["actorRole"] == "DOCTOR" and last["actorId"] == gid(doctor_user)


@pytest.mark.parametrize(
    ("mutation", "status", "offset", "to"),
    [
        ("confirmAppointment", "confirmed", FUTURE, "CONFIRMED"),
        ("confirmAppointment", "cancelled", FUTURE, "CONFIRMED"),
        ("completeAppointment", "pending_payment", PAST, "COMPLETED"),
        ("completeAppointment", "confirmed", FUTURE, "COMPLETED"),  # not started yet
        ("markNoShow", "completed", PAST, "NO_SHOW"),
        ("cancelAppointment", "completed", PAST, "CANCELLED"),
        ("cancelAppointment", "refunded", FUTURE, "CANCELLED"),
    ],
)
async def test_illegal_moves_are_invalid_transitions(
    client: GraphQLClient, db: Database, mutation: str, status: str, offset: timedelta, to: str
) -> None:
    doctor, doctor_user, patient, _admin, _stranger = await _world(db)
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + offset, status=status
    )
    before = await _snapshot(db, appointment)
    result = await _run(client, mutation, appointment, doctor_user)
    assert result["__typename"] == "InvalidTransition", result
    assert (result["code"], result["fromStatus"], result["toStatus"]) == (
        "INVALID_TRANSITION",
        status.upper(),
        to,
    )
    assert await _snapshot(db, appointment) == before


async def test_patient_cancels_only_before_the_window(client: GraphQLClient, db: Database) -> None:
    doctor, _doctor_user, patient, _admin, _stranger = await _world(db)
    early = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(days=3)
    )
    late = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + timedelta(hours=5)
    )
    ok = await _run(client, "cancelAppointment", early, patient, reason="travel")
    assert ok["appointment"]["status"] == "CANCELLED"
    assert ok["appointment"]["cancellationReason"] == "travel"
    assert ok["appointment"]["history"][-1]["actorRole"] == "PATIENT"
    before = await _snapshot(db, late)
    refused = await _run(client, "cancelAppointment", late, patient)
    assert refused["__typename"] == "InvalidTransition"
    assert "24 hours" in refused["message"]
    assert await _snapshot(db, late) == before


@pytest.mark.parametrize("mutation", ["confirmAppointment", "completeAppointment", "markNoShow"])
async def test_patient_cannot_run_the_appointment(
    client: GraphQLClient, db: Database, mutation: str
) -> None:
    doctor, _doctor_user, patient, _admin, _stranger = await _world(db)
    appointment = await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=datetime.now(UTC) + PAST,
        status="pending_payment" if mutation == "confirmAppointment" else "confirmed",
    )
    before = await _snapshot(db, appointment)
    assert (await _run(client, mutation, appointment, patient))["__typename"] == "NotAllowed"
    assert await _snapshot(db, appointment) == before


@pytest.mark.parametrize("who", ["stranger", "other_doctor", "coach", "anon"])
async def test_others_do_not_find_the_appointment(
    client: GraphQLClient, db: Database, who: str
) -> None:
    doctor, _doctor_user, patient, _admin, stranger = await _world(db)
    actors: dict[str, Any] = {
        "stranger": stranger,
        "other_doctor": await user_of(db, await make_doctor(db)),
        "coach": await make_user(db, roles=("coach",)),
        "anon": None,
    }
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + FUTURE
    )
    before = await _snapshot(db, appointment)
    for mutation in ("cancelAppointment", "confirmAppointment"):
        result = await _run(client, mutation, appointment, actors[who])
        assert result == {"__typename": "NotFound", "code": "NOT_FOUND"}
    assert await _snapshot(db, appointment) == before


async def test_admin_and_service_run_any_appointment(client: GraphQLClient, db: Database) -> None:
    doctor, _doctor_user, patient, admin, _stranger = await _world(db)
    first = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + PAST
    )
    second = await make_appointment(
        db,
        doctor=doctor,
        patient=patient,
        starts_at=datetime.now(UTC) + timedelta(hours=1),
        status="pending_payment",
    )
    done = await _run(client, "completeAppointment", first, admin)
    assert done["appointment"]["history"][-1]["actorRole"] == "ADMIN"
    cancelled = await _run(client, "cancelAppointment", second, "service", reason="fraud")
    assert cancelled["appointment"]["status"] == "CANCELLED"
    assert cancelled["appointment"]["history"][-1]["actorRole"] == "SERVICE"


async def test_reason_too_long_is_validation_error(client: GraphQLClient, db: Database) -> None:
    doctor, doctor_user, patient, _admin, _stranger = await _world(db)
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + FUTURE
    )
    before = await _snapshot(db, appointment)
    result = await _run(client, "cancelAppointment", appointment, doctor_user, reason="x" * 1001)
    assert result["__typename"] == "ValidationError"
    assert await _snapshot(db, appointment) == before


# --- rescheduling ----------------------------------------------------------------------


async def _scheduled(db: Database) -> tuple[Doctor, User, User, Appointment, datetime]:
    doctor, doctor_user, patient, _admin, _stranger = await _world(db)
    day = local_day_ahead("UTC", 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    appointment = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=at(day, time(9), "UTC")
    )
    return doctor, doctor_user, patient, appointment, at(day, time(10), "UTC")


async def test_patient_reschedules_to_an_open_slot(client: GraphQLClient, db: Database) -> None:
    _doctor, _doctor_user, patient, appointment, target = await _scheduled(db)
    response = await client.execute(
        RESCHEDULE, {"id": gid(appointment), "startsAt": target.isoformat()}, as_user=patient
    )
    moved = response.data["rescheduleAppointment"]["appointment"]
    assert datetime.fromisoformat(moved["startsAt"]) == target
    assert datetime.fromisoformat(moved["endsAt"]) == target + timedelta(minutes=30)
    event = moved["history"][-1]
    assert event["kind"] == "RESCHEDULED" and event["note"] == "moved"
    assert datetime.fromisoformat(event["previousStartsAt"]) == appointment.starts_at
    # Moving next to its own old time works too (it does not block itself).
    back = await client.execute(
        RESCHEDULE,
        {
            "id": gid(appointment),
            "startsAt": (appointment.starts_at + timedelta(minutes=30)).isoformat(),
        },
        as_user=patient,
    )
    assert back.data["rescheduleAppointment"]["__typename"] == "AppointmentUpdated"


async def test_reschedule_to_a_taken_or_off_grid_time_changes_nothing(
    client: GraphQLClient, db: Database
) -> None:
    doctor, _doctor_user, patient, appointment, target = await _scheduled(db)
    await make_appointment(db, doctor=doctor, patient=await make_user(db), starts_at=target)
    before = await _snapshot(db, appointment)
    for starts_at in (target, target + timedelta(minutes=7)):
        response = await client.execute(
            RESCHEDULE,
            {"id": gid(appointment), "startsAt": starts_at.isoformat()},
            as_user=patient,
        )
        assert response.data["rescheduleAppointment"]["__typename"] == "SlotUnavailable"
    assert await _snapshot(db, appointment) == before


async def test_doctor_moves_off_grid_but_never_onto_another(
    client: GraphQLClient, db: Database
) -> None:
    doctor, doctor_user, _patient, appointment, target = await _scheduled(db)
    await make_appointment(db, doctor=doctor, patient=await make_user(db), starts_at=target)
    off_grid = target + timedelta(hours=3, minutes=7)
    moved = await client.execute(
        RESCHEDULE,
        {"id": gid(appointment), "startsAt": off_grid.isoformat()},
        as_user=doctor_user,
    )
    assert moved.data["rescheduleAppointment"]["__typename"] == "AppointmentUpdated"
    overlapping = await client.execute(
        RESCHEDULE,
        {"id": gid(appointment), "startsAt": (target + timedelta(minutes=15)).isoformat()},
        as_user=doctor_user,
    )
    assert overlapping.data["rescheduleAppointment"]["__typename"] == "SlotUnavailable"
    row = await fetch(db, Appointment, appointment.id)
    assert row.starts_at == off_grid


async def test_reschedule_of_a_finished_appointment_is_invalid(
    client: GraphQLClient, db: Database
) -> None:
    doctor, doctor_user, patient, _appointment, target = await _scheduled(db)
    done = await make_appointment(
        db, doctor=doctor, patient=patient, starts_at=datetime.now(UTC) + PAST, status="completed"
    )
    response = await client.execute(
        RESCHEDULE, {"id": gid(done), "startsAt": target.isoformat()}, as_user=doctor_user
    )
    assert response.data["rescheduleAppointment"]["__typename"] == "InvalidTransition"
    stranger = await client.execute(
        RESCHEDULE,
        {"id": gid(done), "startsAt": target.isoformat()},
        as_user=await make_user(db),
    )
    assert stranger.data["rescheduleAppointment"]["__typename"] == "NotFound"
