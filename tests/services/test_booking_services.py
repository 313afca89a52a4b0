"""Booking a service: slots on the service's own grid inside the weekly hours, its price,
notice, intake questions, approval, video meeting links, and group sessions that sell
seats and never oversell, under real concurrency."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from models import Appointment, Doctor, Service, SlotHold, User
from resolvers.core.database import Database
from resolvers.core.settings import Settings
from schema.ids import parse_id
from tests.appointments.factories import at, local_day_ahead, make_appointment, weekday_of
from tests.client import GraphQLClient, graphql_client
from tests.factories import (
    count_rows,
    default_service,
    gid,
    make_doctor,
    make_rule,
    make_service,
    make_user,
    user_of,
)

ZONE = "Europe/London"
SLOTS = """
query ($id: ID!, $day: Date!, $service: ID) { doctor(id: $id) {
  availableSlots(from: $day, to: $day, serviceId: $service) {
    startsAt endsAt price currency type serviceId capacity seatsLeft } } }
"""
BOOK = """
mutation ($input: BookAppointmentInput!) { bookAppointment(input: $input) {
  __typename
  ... on AppointmentBooked { appointment { id status price currency type serviceId mode seat
    meetingLink intakeAnswers { questionKey prompt kind text choice yes } } }
  ... on SlotUnavailable { code message }
  ... on ValidationError { code fields { field messages } }
  ... on NotAllowed { code }
} }
"""
APPROVE = """
mutation ($id: ID!) { approveAppointment(input: {id: $id}) {
  __typename
  ... on AppointmentUpdated { appointment { status meetingLink } }
  ... on InvalidTransition { code fromStatus }
  ... on NotAllowed { code }
} }
"""
SET_LINK = """
mutation ($id: ID!, $url: String!) { setMeetingLink(input: {appointmentId: $id, url: $url}) {
  __typename
  ... on AppointmentUpdated { appointment { meetingLink } }
  ... on ValidationError { fields { field } }
  ... on NotAllowed { code }
  ... on NotFound { code }
} }
"""
LINK = "query ($id: ID!) { appointment(id: $id) { status meetingLink } }"


async def _clinic(db: Database) -> tuple[Doctor, User, datetime]:
    """A doctor working 09:00-12:00 (30-minute slots) ten days ahead, and a patient."""
    doctor = await make_doctor(db, timezone=ZONE)
    day = local_day_ahead(ZONE, 10)
    await make_rule(db, doctor, day_of_week=weekday_of(day), start=time(9), end=time(12))
    return doctor, await make_user(db), at(day, time(9), ZONE)


def _local(instant: datetime) -> str:
    return instant.astimezone(ZoneInfo(ZONE)).date().isoformat()


def _booking(doctor: Doctor, starts_at: datetime, service: Service | None, **extra: Any) -> dict:
    values: dict[str, Any] = {"doctorId": gid(doctor), "startsAt": starts_at.isoformat()}
    if service is not None:
        values["serviceId"] = gid(service)
    return {"input": values | extra}


async def _slots(client: GraphQLClient, doctor: Doctor, nine: datetime, service: Any, **kw: Any):
    answer = await client.execute(
        SLOTS,
        {"id": gid(doctor), "day": _local(nine), "service": gid(service) if service else None},
        **kw,
    )
    assert answer.errors == [], answer.errors
    return answer.data["doctor"]["availableSlots"]


def _starts(slots: list[dict[str, Any]], nine: datetime) -> list[int]:
    """Slot starts as minutes after 09:00."""
    return [
        int((datetime.fromisoformat(slot["startsAt"]) - nine).total_seconds() // 60)
        for slot in slots
    ]


async def test_a_service_lays_its_own_grid_in_the_weekly_hours_and_is_priced_by_it(
    client: GraphQLClient, db: Database
) -> None:
    doctor, patient, nine = await _clinic(db)
    long_visit = await make_service(
        db, doctor, duration_minutes=45, buffer_minutes=15, price=Decimal("80.00")
    )
    slots = await _slots(client, doctor, nine, long_visit)
    assert _starts(slots, nine) == [0, 60, 120]
    assert {(s["price"], s["type"], s["serviceId"], s["seatsLeft"]) for s in slots} == {
        ("80.00", "STANDARD", gid(long_visit), 1)
    }
    # The default service keeps the weekly rule's grid and the doctor's fee.
    default = await _slots(client, doctor, nine, None)
    assert _starts(default, nine) == [0, 30, 60, 90, 120, 150]
    assert default[0]["serviceId"] == gid(await default_service(db, doctor))
    # A 30-minute appointment at 10:15 takes the service's 10:00 slot (it overlaps).
    await make_appointment(
        db, doctor=doctor, patient=await make_user(db), starts_at=nine + timedelta(minutes=75)
    )
    assert _starts(await _slots(client, doctor, nine, long_visit), nine) == [0, 120]

    booked = await client.execute(
        BOOK, _booking(doctor, nine + timedelta(hours=2), long_visit), as_user=patient
    )
    appointment = booked.data["bookAppointment"]["appointment"]
    assert appointment | {"id": None} == {
        "id": None,
        "status": "PENDING_PAYMENT",
        "price": "80.00",
        "currency": "USD",
        "type": "STANDARD",
        "serviceId": gid(long_visit),
        "mode": "IN_PERSON",
        "seat": 1,
        "meetingLink": None,
        "intakeAnswers": [],
    }
    async with db.read() as session:
        row = await session.get(Appointment, _uuid(appointment["id"]))
    assert row is not None
    assert row.ends_at - row.starts_at == timedelta(minutes=45)


def _uuid(global_id: str) -> uuid.UUID:
    return parse_id(global_id, of="Appointment")


async def test_a_service_of_another_doctor_or_inactive_is_refused(
    client: GraphQLClient, db: Database
) -> None:
    doctor, patient, nine = await _clinic(db)
    elsewhere = await make_service(db, await make_doctor(db))
    retired = await make_service(db, doctor, active=False)
    for service in (elsewhere, retired):
        listed = await client.execute(
            SLOTS, {"id": gid(doctor), "day": _local(nine), "service": gid(service)}
        )
        assert listed.codes == ["BAD_USER_INPUT"]
        booked = await client.execute(BOOK, _booking(doctor, nine, service), as_user=patient)
        assert booked.data["bookAppointment"]["fields"] == [
            {"field": "serviceId", "messages": ["is not a service this doctor offers"]}
        ]
    assert await count_rows(db, Appointment) == 0


async def test_minimum_notice_of_a_service(client: GraphQLClient, db: Database) -> None:
    doctor, patient, nine = await _clinic(db)
    # The slots are 09:00-12:00 ten local days ahead: nine days' notice always leaves them
    # open, eleven days' never does, whatever the time of day the test runs.
    soon = await make_service(db, doctor, min_notice_minutes=9 * 24 * 60)
    later = await make_service(db, doctor, min_notice_minutes=11 * 24 * 60)
    assert len(await _slots(client, doctor, nine, soon)) > 0
    assert await _slots(client, doctor, nine, later) == []
    refused = await client.execute(BOOK, _booking(doctor, nine, later), as_user=patient)
    assert refused.data["bookAppointment"]["__typename"] == "SlotUnavailable"


INTAKE = [
    {"key": "reason", "prompt": "What brings you in?", "kind": "text", "required": True,
     "choices": []},
    {"key": "meds", "prompt": "Any medication?", "kind": "yes_no", "required": True,
     "choices": []},
    {"key": "lang", "prompt": "Language", "kind": "choice", "required": False,
     "choices": ["English", "Arabic"]},
]  # fmt: skip


async def test_intake_answers_are_checked_per_question_and_kept_with_the_booking(
    client: GraphQLClient, db: Database
) -> None:
    doctor, patient, nine = await _clinic(db)
    service = await make_service(db, doctor, intake_questions=INTAKE)
    wrong = await client.execute(
        BOOK,
        _booking(
            doctor,
            nine,
            service,
            intakeAnswers=[
                {"questionKey": "meds", "text": "yes"},
                {"questionKey": "lang", "choice": "French"},
                {"questionKey": "nope", "text": "?"},
            ],
        ),
        as_user=patient,
    )
    assert {
        (f["field"], tuple(f["messages"])) for f in wrong.data["bookAppointment"]["fields"]
    } == {
        ("intakeAnswers.reason", ("is required",)),
        ("intakeAnswers.meds", ("answer with `yes` only",)),
        ("intakeAnswers.lang", ("must be one of: English, Arabic",)),
        ("intakeAnswers.nope", ("is not a question of this service",)),
    }
    assert await count_rows(db, Appointment) == 0
    twice = await client.execute(
        BOOK,
        _booking(
            doctor,
            nine,
            service,
            intakeAnswers=[
                {"questionKey": "reason", "text": "Chest pain"},
                {"questionKey": "reason", "text": "Again"},
                {"questionKey": "meds", "yes": False},
            ],
        ),
        as_user=patient,
    )
    assert twice.data["bookAppointment"]["fields"] == [
        {"field": "intakeAnswers.reason", "messages": ["is answered more than once"]}
    ]
    booked = await client.execute(
        BOOK,
        _booking(
            doctor,
            nine,
            service,
            intakeAnswers=[
                {"questionKey": "meds", "yes": False},
                {"questionKey": "reason", "text": "  Chest pain  "},
            ],
        ),
        as_user=patient,
    )
    assert booked.data["bookAppointment"]["appointment"]["intakeAnswers"] == [
        {
            "questionKey": "reason",
            "prompt": "What brings you in?",
            "kind": "TEXT",
            "text": "Chest pain",
            "choice": None,
            "yes": None,
        },
        {
            "questionKey": "meds",
            "prompt": "Any medication?",
            "kind": "YES_NO",
            "text": None,
            "choice": None,
            "yes": False,
        },
    ]


async def test_a_service_that_needs_approval_books_requested_and_the_doctor_approves(
    client: GraphQLClient, db: Database
) -> None:
    doctor, patient, nine = await _clinic(db)
    owner = await user_of(db, doctor)
    review = await make_service(db, doctor, confirmation="approval", price=Decimal("90.00"))
    free = await make_service(
        db, doctor, confirmation="approval", price=Decimal("0.00"), mode="video"
    )
    requested = await client.execute(BOOK, _booking(doctor, nine, review), as_user=patient)
    appointment = requested.data["bookAppointment"]["appointment"]
    assert appointment["status"] == "REQUESTED"
    # A request holds the time: nobody else gets the slot meanwhile.
    assert _starts(await _slots(client, doctor, nine, review), nine)[0] != 0
    taken = await client.execute(BOOK, _booking(doctor, nine, None), as_user=await make_user(db))
    assert taken.data["bookAppointment"]["__typename"] == "SlotUnavailable"

    by_patient = await client.execute(APPROVE, {"id": appointment["id"]}, as_user=patient)
    assert by_patient.data["approveAppointment"]["__typename"] == "NotAllowed"
    approved = await client.execute(APPROVE, {"id": appointment["id"]}, as_user=owner)
    assert approved.data["approveAppointment"]["appointment"] == {
        "status": "PENDING_PAYMENT",
        "meetingLink": None,
    }
    again = await client.execute(APPROVE, {"id": appointment["id"]}, as_user=owner)
    assert again.data["approveAppointment"] == {
        "__typename": "InvalidTransition",
        "code": "INVALID_TRANSITION",
        "fromStatus": "PENDING_PAYMENT",
    }
    # Nothing due: approval confirms it, and a video appointment gets its link then.
    other = await client.execute(
        BOOK, _booking(doctor, nine + timedelta(hours=1), free), as_user=patient
    )
    other_id = other.data["bookAppointment"]["appointment"]["id"]
    assert other.data["bookAppointment"]["appointment"]["meetingLink"] is None
    confirmed = await client.execute(APPROVE, {"id": other_id}, as_user=owner)
    link = confirmed.data["approveAppointment"]["appointment"]["meetingLink"]
    assert confirmed.data["approveAppointment"]["appointment"]["status"] == "CONFIRMED"
    assert re.fullmatch(r"https://meet\.jit\.si/caregraph-[0-9a-f]{32}", link)


async def test_video_meeting_links_show_once_confirmed_to_those_who_read_the_appointment(
    client: GraphQLClient, db: Database
) -> None:
    doctor, patient, nine = await _clinic(db)
    owner = await user_of(db, doctor)
    video = await make_service(db, doctor, mode="video", price=Decimal("40.00"))
    in_person = await make_service(db, doctor, price=Decimal("0.00"))
    booked = await client.execute(BOOK, _booking(doctor, nine, video), as_user=patient)
    appointment = booked.data["bookAppointment"]["appointment"]
    assert (appointment["status"], appointment["mode"]) == ("PENDING_PAYMENT", "VIDEO")
    async with db.read() as session:
        stored = await session.scalar(
            select(Appointment.meeting_link).where(Appointment.id == _uuid(appointment["id"]))
        )
    assert stored is None
    record = """
    mutation ($input: RecordPaymentInput!) { recordPayment(input: $input) { __typename } }
    """
    paid = await client.execute(
        record,
        {"input": {"appointmentId": appointment["id"], "amount": "40.00", "currency": "USD"}},
        as_user="service",
    )
    assert paid.data["recordPayment"]["__typename"] == "PaymentRecorded"
    viewers = {
        "patient": patient,
        "doctor": owner,
        "staff": await make_user(db, roles=("staff",)),
        "admin": await make_user(db, roles=("admin",)),
    }
    links = set()
    for role, viewer in viewers.items():
        seen = await client.execute(LINK, {"id": appointment["id"]}, as_user=viewer)
        links.add(seen.data["appointment"]["meetingLink"])
        assert seen.data["appointment"]["status"] == "CONFIRMED", role
    assert len(links) == 1 and None not in links
    for stranger in (None, await make_user(db), await make_user(db, roles=("coach",))):
        hidden = await client.execute(LINK, {"id": appointment["id"]}, as_user=stranger)
        assert hidden.data["appointment"] is None

    own_link = "https://video.example.com/room/abc"
    bad = await client.execute(
        SET_LINK, {"id": appointment["id"], "url": "http://x"}, as_user=owner
    )
    assert bad.data["setMeetingLink"]["__typename"] == "ValidationError"
    by_patient = await client.execute(
        SET_LINK, {"id": appointment["id"], "url": own_link}, as_user=patient
    )
    assert by_patient.data["setMeetingLink"]["__typename"] == "NotAllowed"
    set_link = await client.execute(
        SET_LINK, {"id": appointment["id"], "url": own_link}, as_user=owner
    )
    assert set_link.data["setMeetingLink"]["appointment"]["meetingLink"] == own_link

    # In person: no link, and none can be set.
    free = await client.execute(
        BOOK, _booking(doctor, nine + timedelta(hours=1), in_person), as_user=patient
    )
    free_id = free.data["bookAppointment"]["appointment"]["id"]
    assert free.data["bookAppointment"]["appointment"]["meetingLink"] is None
    not_video = await client.execute(SET_LINK, {"id": free_id, "url": own_link}, as_user=owner)
    assert not_video.data["setMeetingLink"]["fields"] == [{"field": "appointmentId"}]
    # Cancelled by the doctor (and so refunded in full at once, paid at the desk): the link
    # is no longer shown.
    cancel = "mutation ($id: ID!) { cancelAppointment(input: {id: $id}) { __typename } }"
    await client.execute(cancel, {"id": appointment["id"]}, as_user=owner)
    after = await client.execute(LINK, {"id": appointment["id"]}, as_user=patient)
    assert after.data["appointment"] == {"status": "REFUNDED", "meetingLink": None}


# --- group sessions ------------------------------------------------------------------

SEATS = 5
BOOKERS = 16


async def test_concurrent_bookers_of_a_group_session_get_exactly_its_seats(
    client: GraphQLClient, db: Database
) -> None:
    doctor, _patient, nine = await _clinic(db)
    group = await make_service(
        db, doctor, duration_minutes=60, capacity=SEATS, price=Decimal("20.00")
    )
    patients = [await make_user(db) for _ in range(BOOKERS)]
    responses = await asyncio.gather(
        *(client.execute(BOOK, _booking(doctor, nine, group), as_user=p) for p in patients)
    )
    kinds = [r.data["bookAppointment"]["__typename"] for r in responses]
    assert kinds.count("AppointmentBooked") == SEATS, kinds
    assert kinds.count("SlotUnavailable") == BOOKERS - SEATS
    async with db.read() as session:
        seats = (
            await session.scalars(
                select(Appointment.seat).where(Appointment.doctor_id == doctor.id)
            )
        ).all()
    assert sorted(seats) == list(range(1, SEATS + 1))
    # The full session is no longer listed; the next one still is, with every seat.
    slots = await _slots(client, doctor, nine, group)
    assert [
        (s, slot["seatsLeft"]) for s, slot in zip(_starts(slots, nine), slots, strict=True)
    ] == [
        (60, SEATS),
        (120, SEATS),
    ]


async def test_seats_left_holds_and_what_a_group_session_blocks(
    client: GraphQLClient, db: Database
) -> None:
    doctor, patient, nine = await _clinic(db)
    group = await make_service(db, doctor, duration_minutes=60, capacity=3)
    first = await client.execute(BOOK, _booking(doctor, nine, group), as_user=patient)
    assert first.data["bookAppointment"]["appointment"]["seat"] == 1
    slots = await _slots(client, doctor, nine, group)
    assert (slots[0]["seatsLeft"], slots[0]["capacity"]) == (2, 3)
    # The same patient cannot take a second seat.
    twice = await client.execute(BOOK, _booking(doctor, nine, group), as_user=patient)
    assert twice.data["bookAppointment"]["fields"] == [
        {"field": "startsAt", "messages": ["already booked for this patient"]}
    ]
    # A hold takes a seat for everyone but its holder.
    holder = await make_user(db)
    hold = """
    mutation ($input: HoldSlotInput!) { holdSlot(input: $input) {
      __typename ... on SlotHeld { hold { serviceId } } } }
    """
    held = await client.execute(
        hold,
        {"input": {"doctorId": gid(doctor), "startsAt": nine.isoformat(), "serviceId": gid(group)}},
        as_user=holder,
    )
    assert held.data["holdSlot"]["hold"]["serviceId"] == gid(group)
    assert (await _slots(client, doctor, nine, group))[0]["seatsLeft"] == 1
    assert (await _slots(client, doctor, nine, group, as_user=holder))[0]["seatsLeft"] == 2
    booked = await client.execute(BOOK, _booking(doctor, nine, group), as_user=holder)
    assert booked.data["bookAppointment"]["appointment"]["seat"] == 2
    assert await count_rows(db, SlotHold) == 0
    # Private appointments cannot overlap the session; the session cannot start over one.
    assert _starts(await _slots(client, doctor, nine, None), nine) == [60, 90, 120, 150]
    await make_appointment(
        db, doctor=doctor, patient=await make_user(db), starts_at=nine + timedelta(hours=1)
    )
    assert _starts(await _slots(client, doctor, nine, group), nine) == [0, 120]


async def test_a_patient_moves_a_seat_to_another_session(
    client: GraphQLClient, db: Database
) -> None:
    doctor, patient, nine = await _clinic(db)
    group = await make_service(db, doctor, duration_minutes=60, capacity=2)
    others = [await make_user(db) for _ in range(2)]
    for other in others:
        await client.execute(
            BOOK, _booking(doctor, nine + timedelta(hours=1), group), as_user=other
        )
    mine = await client.execute(BOOK, _booking(doctor, nine, group), as_user=patient)
    appointment_id = mine.data["bookAppointment"]["appointment"]["id"]
    move = """
    mutation ($id: ID!, $at: DateTime!) { rescheduleAppointment(input: {id: $id, startsAt: $at}) {
      __typename ... on AppointmentUpdated { appointment { startsAt seat } } } }
    """
    full = await client.execute(
        move, {"id": appointment_id, "at": (nine + timedelta(hours=1)).isoformat()}, as_user=patient
    )
    assert full.data["rescheduleAppointment"]["__typename"] == "SlotUnavailable"
    moved = await client.execute(
        move, {"id": appointment_id, "at": (nine + timedelta(hours=2)).isoformat()}, as_user=patient
    )
    assert moved.data["rescheduleAppointment"]["appointment"]["seat"] == 1
    async with db.read() as session:
        service_id = await session.scalar(
            select(Appointment.service_id).where(Appointment.id == _uuid(appointment_id))
        )
    assert service_id == group.id


async def test_the_configured_template_makes_the_meeting_link(
    settings: Settings, db: Database
) -> None:
    doctor, patient, nine = await _clinic(db)
    video = await make_service(db, doctor, mode="video", price=Decimal("0.00"))
    template = "https://rooms.clinic.example/{room}?lang=en"
    async with graphql_client(settings, db, meeting_url_template=template) as client:
        booked = await client.execute(BOOK, _booking(doctor, nine, video), as_user=patient)
    link = booked.data["bookAppointment"]["appointment"]["meetingLink"]
    assert re.fullmatch(r"https://rooms\.clinic\.example/[0-9a-f]{32}\?lang=en", link)
    for bad in ("http://rooms.example/{room}", "https://rooms.example/fixed", "https://x/{id}"):
        with pytest.raises(ValidationError):
            Settings(meeting_url_template=bad, _env_file=None)  # type: ignore[call-arg]
